using Backstay.Core.Analysis;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Analysis;

/// <summary>
/// The comparison with the stable revision on generated traffic, looked at as the engine looks: every 100 ms, from the
/// first request. The false-rollback rate it promises must hold across all those looks, not at one fixed sample.
/// </summary>
public sealed class BaselineComparisonTests
{
    private static readonly ErrorRateIncrease NoIncrease = new(1, Relative: true);

    [Fact]
    public void Compare_EqualErrorRatesLookedAtEvery100ms_FailsNoMoreOftenThanTheConfidencePromises()
    {
        // 400 releases exactly as bad as their stable revision (at the edge of what `1x` allows), each watched for 60 s at
        // 300 requests/s with 10% on the canary: 600 looks each.
        const int Releases = 400;
        var falseRollbacks = 0;
        for (var seed = 1; seed <= Releases; seed++)
        {
            if (Simulate(seed, targetRate: 0.05, baselineRate: 0.05, NoIncrease, requestsPerSecond: 300, weight: 0.1, seconds: 60) is not null)
            {
                falseRollbacks++;
            }
        }

        // 5% allowed; 400 releases put a 99.9% binomial band's top at about 8.5%.
        ((double)falseRollbacks / Releases).ShouldBeLessThanOrEqualTo(0.085, $"{falseRollbacks} of {Releases} equal releases failed");
    }

    [Theory]
    [InlineData(0.04, 0.04, "+1%")]
    [InlineData(0.001, 0.001, "2x")]
    [InlineData(0.2, 0.2, "+1%")]
    public void Compare_ReleaseNoWorseThanItsStable_IsNeverFailedInFiftyReleases(double target, double baseline, string allowed)
    {
        var increase = ErrorRateIncrease.TryParse(allowed).ShouldNotBeNull();
        for (var seed = 1; seed <= 50; seed++)
        {
            Simulate(seed, target, baseline, increase, requestsPerSecond: 300, weight: 0.1, seconds: 60).ShouldBeNull($"seed {seed}");
        }
    }

    [Theory]
    [InlineData(100, 4.0)]
    [InlineData(300, 1.5)]
    public void Compare_CanaryFailing30PercentAgainstAStableFailing1_IsCaughtWithinSeconds(int requestsPerSecond, double withinSeconds)
    {
        var increase = ErrorRateIncrease.TryParse("+1%").ShouldNotBeNull();
        var caught = Enumerable.Range(1, 20)
            .Select(seed => Simulate(seed, 0.3, 0.01, increase, requestsPerSecond, weight: 0.1, seconds: 30).ShouldNotBeNull($"seed {seed}"))
            .Order()
            .ToList();

        caught[caught.Count / 2].ShouldBeLessThan(withinSeconds, string.Join(", ", caught));
    }

    [Fact]
    public void Compare_NoRequestsYet_DecidesNothing()
    {
        var comparison = BaselineComparison.Compare(Metrics(0, 0), Metrics(100, 2), NoIncrease, 0.95);

        comparison.Worse.ShouldBeFalse();
        comparison.WithinAllowed.ShouldBeFalse();
    }

    [Fact]
    public void Compare_TwoTimesAllowed_JudgesAgainstTwiceTheStablesRate()
    {
        var allowed = ErrorRateIncrease.TryParse("2x").ShouldNotBeNull();

        BaselineComparison.Compare(Metrics(10_000, 1_200), Metrics(90_000, 4_000), allowed, 0.95).Worse.ShouldBeTrue("12% against 2 × 4.4%");
        BaselineComparison.Compare(Metrics(10_000, 700), Metrics(90_000, 4_000), allowed, 0.95).WithinAllowed.ShouldBeTrue("7% against 2 × 4.4%");
    }

    [Fact]
    public void Describe_NamesBothRatesTheAllowanceAndTheInterval()
    {
        var text = BaselineComparison.Compare(Metrics(200, 30), Metrics(1800, 18), ErrorRateIncrease.TryParse("+1%")!, 0.95).Describe();

        text.ShouldContain("error rate 15% (30/200)");
        text.ShouldContain("the stable revision's 1% (18/1800)");
        text.ShouldContain("allowed +1%");
        text.ShouldContain("95% always-valid interval [");
    }

    [Theory]
    [InlineData("+1%", 0.01, false)]
    [InlineData(" +0.5 % ", 0.005, false)]
    [InlineData("2x", 2, true)]
    [InlineData("1.5x", 1.5, true)]
    [InlineData("1x", 1, true)]
    public void TryParse_TheFormsTheSpecTakes(string text, double value, bool relative) =>
        ErrorRateIncrease.TryParse(text).ShouldBe(new ErrorRateIncrease(value, relative));

    [Theory]
    [InlineData("1%")]
    [InlineData("+0%")]
    [InlineData("0.5x")]
    [InlineData("x")]
    [InlineData("+101%")]
    [InlineData("double")]
    public void TryParse_AnythingElse_IsNull(string text) => ErrorRateIncrease.TryParse(text).ShouldBeNull();

    /// <summary>Runs one release's traffic and looks every 100 ms; returns when it was found worse (seconds), or null.</summary>
    private static double? Simulate(int seed, double targetRate, double baselineRate, ErrorRateIncrease allowed, int requestsPerSecond, double weight, int seconds)
    {
        var random = new Random(seed);
        long targetRequests = 0, targetErrors = 0, baselineRequests = 0, baselineErrors = 0;
        var perLook = requestsPerSecond / 10;
        for (var look = 1; look <= seconds * 10; look++)
        {
            for (var i = 0; i < perLook; i++)
            {
                if (random.NextDouble() < weight)
                {
                    targetRequests++;
                    targetErrors += random.NextDouble() < targetRate ? 1 : 0;
                }
                else
                {
                    baselineRequests++;
                    baselineErrors += random.NextDouble() < baselineRate ? 1 : 0;
                }
            }

            if (BaselineComparison.Compare(Metrics(targetRequests, targetErrors), Metrics(baselineRequests, baselineErrors), allowed, 0.95).Worse)
            {
                return look / 10.0;
            }
        }

        return null;
    }

    private static RevisionMetrics Metrics(long requests, long errors) => new() { Requests = requests, Errors = errors, Window = TimeSpan.FromSeconds(10) };
}
