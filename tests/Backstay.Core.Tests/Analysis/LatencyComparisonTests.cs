using Backstay.Core.Analysis;
using Backstay.Core.Ports;

namespace Backstay.Core.Tests.Analysis;

/// <summary>
/// The latency comparison with the stable revision (Mann–Whitney U, always-valid) on generated per-request samples, looked
/// at as the engine looks: every 100 ms over the window.
/// </summary>
public sealed class LatencyComparisonTests
{
    private static readonly TimeSpan Allowed = TimeSpan.FromMilliseconds(20);

    [Fact]
    public void Check_FiftyMillisecondsSlower_IsCaughtWithinTwoSeconds()
    {
        for (var seed = 1; seed <= 20; seed++)
        {
            var caught = Watch(seed, extraMs: 50, Allowed, seconds: 10);
            caught.ShouldNotBeNull($"seed {seed}");
            caught.Value.ShouldBeLessThan(2.0, $"seed {seed}");
        }
    }

    [Fact]
    public void Check_FiveMillisecondsSlower_IsNeverCaughtAndPassesConclusively()
    {
        for (var seed = 1; seed <= 50; seed++)
        {
            Watch(seed, extraMs: 5, Allowed, seconds: 10).ShouldBeNull($"seed {seed}");
        }

        var (target, baseline) = Samples(new Random(3), extraMs: 5, seconds: 10);
        var check = LatencyComparison.Check(target, baseline, Allowed, 0.95, 20, dryRun: false);
        check.Verdict.ShouldBe(Verdict.Pass);
        check.Conclusive.ShouldBeTrue();
        check.Reason.ShouldContain("within the allowed increase");
    }

    [Fact]
    public void Check_RevisionExactlyAtTheAllowedIncrease_FailsAtMostAsOftenAsTheConfidenceAllows()
    {
        // Latencies in microseconds (next to no ties) shifted by exactly the allowed 20 ms: the edge of what is allowed. The
        // check reads the samples' unit as its own, so the allowance is given in the same unit (20,000).
        const int Releases = 200;
        var allowedInMicroseconds = TimeSpan.FromMilliseconds(20_000);
        var failed = Enumerable.Range(1, Releases).Count(seed => Watch(seed, extraMs: 20, allowedInMicroseconds, seconds: 10, continuous: true) is not null);

        // 5% promised; 200 releases put a 99.9% binomial band's top at about 10%.
        ((double)failed / Releases).ShouldBeLessThanOrEqualTo(0.10, $"{failed} of {Releases} failed");
    }

    [Fact]
    public void Check_NoSamples_ComparesMediansWithTheAllowedIncrease()
    {
        var target = new RevisionMetrics { Revision = 2, Requests = 100, LatencyP50Ms = 90 };
        var baseline = new RevisionMetrics { Revision = 1, Requests = 900, LatencyP50Ms = 40 };

        var check = LatencyComparison.Check(target, baseline, Allowed, 0.95, 20, dryRun: false);

        check.Verdict.ShouldBe(Verdict.Fail);
        check.Test.ShouldBe(LatencyComparison.PercentileTest);
        check.Reason.ShouldContain("50 ms slower, more than the allowed 20 ms");
        check.Sequential.ShouldBeFalse();
    }

    [Fact]
    public void RankSum_KnownSamples_CountsPairsWithTiesAsHalves()
    {
        // new − 0 against stable: (3 > 1, 3 > 2, 3 = 3 half) + (1 = 1 half) = 3 pairs.
        var (u, _) = LatencyComparison.RankSum([3, 1], [1, 2, 3], 0);

        u.ShouldBe(3.0);
    }

    /// <summary>Seconds until the check failed, or null when it never did.</summary>
    private static double? Watch(int seed, int extraMs, TimeSpan allowed, int seconds, bool continuous = false)
    {
        var random = new Random(seed);
        var target = new List<int>();
        var baseline = new List<int>();
        for (var tick = 1; tick <= seconds * 10; tick++)
        {
            // 300 requests/s, 10% on the new revision: 3 and 27 per 100 ms.
            for (var i = 0; i < 27; i++)
            {
                baseline.Add(Latency(random, 20, continuous));
            }

            for (var i = 0; i < 3; i++)
            {
                target.Add(Latency(random, 20 + extraMs, continuous));
            }

            var check = LatencyComparison.Check(Metrics(2, target), Metrics(1, baseline), allowed, 0.95, 20, dryRun: false);
            if (check.Verdict == Verdict.Fail)
            {
                return tick / 10.0;
            }
        }

        return null;
    }

    private static (RevisionMetrics Target, RevisionMetrics Baseline) Samples(Random random, int extraMs, int seconds) =>
        (Metrics(2, [.. Enumerable.Range(0, 30 * seconds).Select(_ => Latency(random, 20 + extraMs, false))]),
         Metrics(1, [.. Enumerable.Range(0, 270 * seconds).Select(_ => Latency(random, 20, false))]));

    /// <summary>A base latency plus an exponential tail (mean 4 ms), in whole milliseconds like HAProxy's log, or in microseconds.</summary>
    private static int Latency(Random random, int baseMs, bool continuous)
    {
        var value = baseMs - (4 * Math.Log(1 - random.NextDouble()));
        return continuous ? (int)(value * 1000) : (int)value;
    }

    private static RevisionMetrics Metrics(int revision, List<int> samples) => new()
    {
        Revision = revision,
        Requests = samples.Count,
        LatencySamplesMs = [.. samples],
        LatencyP50Ms = samples.Count == 0 ? null : samples.Order().ElementAt(samples.Count / 2),
    };
}
