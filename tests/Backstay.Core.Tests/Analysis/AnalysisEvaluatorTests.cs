using Backstay.Core.Analysis;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Analysis;

public sealed class AnalysisEvaluatorTests
{
    private static readonly AnalysisSpec Defaults = new();

    [Theory]
    [InlineData(6, 20, 0.1455)]
    [InlineData(1, 100, 0.0018)]
    [InlineData(30, 100, 0.2189)]
    [InlineData(20, 20, 0.8389)]
    public void WilsonLowerBound_KnownProportions_MatchesTheFormula(long errors, long requests, double expected) =>
        AnalysisEvaluator.WilsonLowerBound(errors, requests).ShouldBe(expected, 0.0005);

    [Theory]
    [InlineData(0, 100)]
    [InlineData(0, 1)]
    [InlineData(0, 0)]
    [InlineData(3, 0)]
    public void WilsonLowerBound_NoErrorsOrNoRequests_IsZero(long errors, long requests) =>
        AnalysisEvaluator.WilsonLowerBound(errors, requests).ShouldBe(0, 1e-12);

    [Fact]
    public void WilsonLowerBound_SameRateMoreRequests_Grows()
    {
        var small = AnalysisEvaluator.WilsonLowerBound(3, 10);
        var large = AnalysisEvaluator.WilsonLowerBound(300, 1000);

        small.ShouldBeLessThan(large);
        large.ShouldBeLessThan(0.3);
    }

    [Fact]
    public void Evaluate_FewerRequestsThanMinimum_IsInconclusiveEvenWithOnlyErrors()
    {
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 19, errors: 19));

        result.Verdict.ShouldBe(Verdict.Inconclusive);
        result.Reason.ShouldBe("19 of the 20 requests needed to judge");
    }

    [Fact]
    public void Evaluate_MinimumReachedWithClearlyBadRate_Fails()
    {
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 20, errors: 6));

        result.Verdict.ShouldBe(Verdict.Fail);
        result.Reason.ShouldContain("error rate 30%");
        result.Reason.ShouldContain("(6/20)");
        result.Reason.ShouldContain("limit of 5%");
    }

    [Fact]
    public void Evaluate_RateAboveLimitButNotWithConfidence_Passes()
    {
        // 2/20 is 10%, above 5%, but the lower bound (about 2.8%) is not.
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 20, errors: 2));

        result.Verdict.ShouldBe(Verdict.Pass);
    }

    [Fact]
    public void Evaluate_LowErrorRate_Passes()
    {
        var result = AnalysisEvaluator.Evaluate(Defaults, Metrics(requests: 1000, errors: 5));

        result.Verdict.ShouldBe(Verdict.Pass);
        result.Reason.ShouldBe("error rate 0.5% over 1000 requests");
    }

    [Fact]
    public void Evaluate_NoErrorLimit_IgnoresErrors()
    {
        var result = AnalysisEvaluator.Evaluate(Defaults with { MaxErrorRate = null }, Metrics(requests: 100, errors: 100));

        result.Verdict.ShouldBe(Verdict.Pass);
    }

    [Fact]
    public void Evaluate_P99AboveLimit_FailsNamingLatency()
    {
        var spec = Defaults with { MaxLatencyP99 = TimeSpan.FromMilliseconds(300) };

        var result = AnalysisEvaluator.Evaluate(spec, Metrics(requests: 100, errors: 0) with { LatencyP99Ms = 450 });

        result.Verdict.ShouldBe(Verdict.Fail);
        result.Reason.ShouldBe("p99 latency 450 ms is above the limit of 300 ms");
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
