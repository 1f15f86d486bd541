using Backstay.Core.Analysis;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Analysis;

public sealed class AnalysisEvaluatorTests
{
    private static readonly AnalysisSpec Defaults = new();

    [Fact]
    public void Evaluate_ADozenRequestsFailingAThird_FailsAtOnceWithoutTheOldMinimumOf20()
    {
        // 4 of 12 is what a revision failing 30% serves in about a second at 10 requests/s: enough evidence, although
        // fewer than minRequests (which a pass still needs).
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 12, errors: 4));

        result.Verdict.ShouldBe(Verdict.Fail);
        result.Reason.ShouldContain("error rate 33.3% (4/12) against the limit of 5% is above it");
        var check = result.Checks.ShouldHaveSingleItem();
        check.Metric.ShouldBe("errorRate");
        check.Sequential.ShouldBeTrue();
        check.Target!.Requests.ShouldBe(12);
        check.Statistic!.Value.ShouldBeGreaterThanOrEqualTo(check.Critical!.Value);
        new ConsecutiveFailureCounter(2).Record(result).ShouldBeTrue("a sequential test's failure counts at once");
    }

    [Fact]
    public void Evaluate_OneErrorInThree_IsInconclusiveNotFailed()
    {
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 3, errors: 1));

        result.Verdict.ShouldBe(Verdict.Inconclusive);
        result.Reason.ShouldContain("3 of the 20 requests needed to pass");
    }

    [Fact]
    public void Evaluate_RateAboveLimitButNotWithConfidence_PassesOnceTheMinimumIsThere()
    {
        // 2/20 is 10%, above 5%, but twenty requests cannot tell it from 5%.
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 20, errors: 2));

        result.Verdict.ShouldBe(Verdict.Pass);
        result.PassedConclusively.ShouldBeFalse();
    }

    [Fact]
    public void Evaluate_ManyCleanRequests_PassesConclusively()
    {
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 1000, errors: 5));

        result.Verdict.ShouldBe(Verdict.Pass);
        result.PassedConclusively.ShouldBeTrue();
        result.Reason.ShouldContain("error rate 0.5% (5/1000) against the limit of 5% is within it with 95% confidence");
    }

    [Fact]
    public void Evaluate_DryRunErrorRate_IsShownButNeverFails()
    {
        var spec = Defaults with { DryRun = ["errorRate"] };

        var result = AnalysisEvaluator.Evaluate(spec, Metrics(requests: 100, errors: 60));

        result.Verdict.ShouldBe(Verdict.Pass);
        result.Reason.ShouldContain("dry run errorRate would fail");
        result.Checks.ShouldHaveSingleItem().ShouldSatisfyAllConditions(c => c.DryRun.ShouldBeTrue(), c => c.Verdict.ShouldBe(Verdict.Fail));
        new ConsecutiveFailureCounter(1).Record(result).ShouldBeFalse();
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.01)]
    [InlineData(0.2)]
    public void LimitTest_RevisionExactlyAtTheLimit_FailsAtMostAsOftenAsTheConfidenceAllows(double limit)
    {
        // The promise: however often it is looked at, a revision whose error rate is the limit is failed in at most
        // 5% of deployments (95% confidence). 1,000 deployments of 2,000 requests each, looked at after every request.
        var random = new Random(14);
        const int Deployments = 1000;
        var failed = 0;
        for (var d = 0; d < Deployments; d++)
        {
            long errors = 0;
            for (var n = 1; n <= 2000; n++)
            {
                errors += random.NextDouble() < limit ? 1 : 0;
                if (ErrorRateLimit.LikelihoodRatio(errors, n, limit, ErrorRateLimit.Above) >= 20)
                {
                    failed++;
                    break;
                }
            }
        }

        // 5% promised; 6.5% leaves room for the binomial spread of 1,000 runs (sd 0.7 points).
        ((double)failed / Deployments).ShouldBeLessThan(0.065);
    }

    [Fact]
    public void LimitTest_RevisionAtHalfTheLimit_IsFailedFarLessOftenThanAtTheLimit()
    {
        // At half the limit the chance is far below the 5% promised at the limit (about 0.2% of deployments of 3,000
        // requests, from a short early run of errors such as 3 in 8): at most 1% of 500 here.
        var random = new Random(7);
        var failed = new List<string>();
        for (var d = 0; d < 500; d++)
        {
            long errors = 0;
            for (var n = 1; n <= 3000; n++)
            {
                errors += random.NextDouble() < 0.025 ? 1 : 0;
                if (ErrorRateLimit.LikelihoodRatio(errors, n, 0.05, ErrorRateLimit.Above) >= 20)
                {
                    failed.Add($"{errors}/{n}");
                    break;
                }
            }
        }

        failed.Count.ShouldBeLessThanOrEqualTo(5, string.Join(", ", failed));
    }

    [Fact]
    public void LimitTest_ZeroLimit_OneErrorFails_NoErrorsNeverDo()
    {
        ErrorRateLimit.Check(Metrics(1, 1), 0, 0.95, 20, dryRun: false).Verdict.ShouldBe(Verdict.Fail);
        ErrorRateLimit.Check(Metrics(100_000, 0), 0, 0.95, 20, dryRun: false).Verdict.ShouldBe(Verdict.Pass);
    }

    [Fact]
    public void Evaluate_NoErrorLimit_IgnoresErrors()
    {
        var result = AnalysisEvaluator.Evaluate(Defaults with { MaxErrorRate = null }, Metrics(requests: 100, errors: 100));

        result.Verdict.ShouldBe(Verdict.Pass);
        result.Checks.ShouldBeEmpty();
    }

    [Fact]
    public void Evaluate_P99AboveLimit_FailsNamingLatency()
    {
        var spec = Defaults with { MaxLatencyP99 = TimeSpan.FromMilliseconds(300) };

        var result = AnalysisEvaluator.Evaluate(spec, Metrics(requests: 100, errors: 0) with { LatencyP99Ms = 450 });

        result.Verdict.ShouldBe(Verdict.Fail);
        result.Reason.ShouldBe("p99 latency 450 ms is above the limit of 300 ms");
        var counter = new ConsecutiveFailureCounter(2);
        counter.Record(result).ShouldBeFalse("a percentile is not a sequential test: it needs consecutiveFailures");
        counter.Record(result).ShouldBeTrue();
    }

    [Fact]
    public void Evaluate_P90AboveLimit_Fails()
    {
        var spec = Defaults with { MaxLatencyP90 = TimeSpan.FromMilliseconds(100) };

        var result = AnalysisEvaluator.Evaluate(spec, Metrics(requests: 100, errors: 0) with { LatencyP90Ms = 101 });

        result.Verdict.ShouldBe(Verdict.Fail);
        result.Reason.ShouldContain("p90 latency");
    }

    [Fact]
    public void Evaluate_LatencyWithinLimitOrUnknown_Passes()
    {
        var spec = Defaults with { MaxLatencyP99 = TimeSpan.FromMilliseconds(300) };

        AnalysisEvaluator.Evaluate(spec, Metrics(100, 0) with { LatencyP99Ms = 300 }).Verdict.ShouldBe(Verdict.Pass);
        AnalysisEvaluator.Evaluate(spec, Metrics(100, 0) with { LatencyP99Ms = null }).Verdict.ShouldBe(Verdict.Pass);
    }

    [Fact]
    public void Record_RequiredConsecutiveFailures_TrueOnlyWhenReached()
    {
        var counter = new ConsecutiveFailureCounter(2);

        counter.Record(Result(Verdict.Fail)).ShouldBeFalse();
        counter.Record(Result(Verdict.Fail)).ShouldBeTrue();
        counter.Failures.ShouldBe(2);
    }

    [Fact]
    public void Record_PassBetweenFailures_ResetsTheCount()
    {
        var counter = new ConsecutiveFailureCounter(2);

        counter.Record(Result(Verdict.Fail)).ShouldBeFalse();
        counter.Record(Result(Verdict.Pass)).ShouldBeFalse();
        counter.Failures.ShouldBe(0);
        counter.Record(Result(Verdict.Fail)).ShouldBeFalse();
        counter.Failures.ShouldBe(1);
    }

    [Fact]
    public void Record_InconclusiveBetweenFailures_NeitherCountsNorResets()
    {
        var counter = new ConsecutiveFailureCounter(2);

        counter.Record(Result(Verdict.Fail)).ShouldBeFalse();
        counter.Record(Result(Verdict.Inconclusive)).ShouldBeFalse();
        counter.Failures.ShouldBe(1);
        counter.Record(Result(Verdict.Fail)).ShouldBeTrue();
    }

    [Theory]
    [InlineData(0.005, "0.5%")]
    [InlineData(0.3, "30%")]
    [InlineData(0.0512, "5.12%")]
    [InlineData(1, "100%")]
    public void Percent_Fraction_FormatsForPeople(double fraction, string expected) =>
        AnalysisEvaluator.Percent(fraction).ShouldBe(expected);

    private static RevisionMetrics Metrics(long requests, long errors) => new()
    {
        Revision = 2,
        Window = TimeSpan.FromSeconds(10),
        Requests = requests,
        Errors = errors,
    };

    private static AnalysisResult Result(Verdict verdict) => new(verdict, verdict.ToString(), Metrics(100, 0));
}
