using System.Globalization;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Analysis;

/// <summary>The numbers behind one comparison of the new revision's error rate with the stable revision's.</summary>
/// <param name="Difference">The estimate of new − (allowed rate given the stable's), negative while the new revision is within what is allowed.</param>
/// <param name="Lower">Lower end of the always-valid confidence interval of <paramref name="Difference"/>; above 0 fails.</param>
/// <param name="Upper">Upper end; below 0 passes with the same confidence.</param>
public sealed record ErrorRateComparison(
    long TargetRequests,
    long TargetErrors,
    long BaselineRequests,
    long BaselineErrors,
    ErrorRateIncrease Allowed,
    double Confidence,
    double Difference,
    double Lower,
    double Upper)
{
    public double TargetRate => TargetRequests == 0 ? 0 : (double)TargetErrors / TargetRequests;

    public double BaselineRate => BaselineRequests == 0 ? 0 : (double)BaselineErrors / BaselineRequests;

    /// <summary>The evidence says the new revision is worse than allowed.</summary>
    public bool Worse => Lower > 0;

    /// <summary>The evidence says the new revision is within what is allowed.</summary>
    public bool WithinAllowed => Upper < 0;

    /// <summary>The comparison in words with its numbers, for events, progress and reasons.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"error rate {AnalysisEvaluator.Percent(TargetRate)} ({TargetErrors}/{TargetRequests}) against the stable revision's " +
        $"{AnalysisEvaluator.Percent(BaselineRate)} ({BaselineErrors}/{BaselineRequests}); allowed {Allowed}; " +
        $"excess {Points(Difference)} points, {Confidence * 100:0.#}% always-valid interval [{Points(Lower)}, {Points(Upper)}]");

    /// <summary>
    /// The comparison as a check: decided either way when the interval is, otherwise a pass once the new revision has served
    /// <paramref name="minRequests"/> requests (not shown worse), inconclusive before.
    /// </summary>
    public AnalysisCheck ToCheck(int minRequests, bool dryRun) => new()
    {
        Metric = "errorRate.maxIncrease",
        Verdict = Worse ? Verdict.Fail : WithinAllowed || TargetRequests >= minRequests ? Verdict.Pass : Verdict.Inconclusive,
        Conclusive = Worse || WithinAllowed,
        Sequential = true,
        Test = "always-valid two-proportion test (mSPRT)",
        Threshold = Allowed.Relative ? $"at most {Allowed} the stable revision's error rate" : $"at most {Allowed} points over the stable revision's error rate",
        Statistic = Difference,
        StatisticName = "excess error rate",
        Critical = 0,
        Lower = Lower,
        Upper = Upper,
        DryRun = dryRun,
        Reason = (Worse ? "worse than the stable revision: " : WithinAllowed || TargetRequests >= minRequests ? "" : $"{TargetRequests} of the {minRequests} requests needed to pass: ") + Describe(),
    };

    private static string Points(double fraction) => (fraction >= 0 ? "+" : "") + (fraction * 100).ToString("0.##", CultureInfo.InvariantCulture);
}

/// <summary>
/// Compares the new revision's error rate with the stable revision's over the same window, and may be asked again
/// at every evaluation without raising the chance of a false rollback: the test is a mixture sequential probability
/// ratio test (Johari, Pekelis and Walsh, "Always valid inference", 2015) on the normal approximation of
/// D = p_new − k·p_stable − m, whose confidence interval holds at every look at once. docs/analysis.md gives the method,
/// its assumptions and its defaults.
/// </summary>
public static class BaselineComparison
{
    /// <summary>
    /// The spreads of the differences the mixture weighs equally (τ, in rate units): from a tenth of a point to thirty
    /// points. An average of mixture likelihood ratios is itself one, so the guarantee holds; several τ let both a small
    /// and a gross difference be decided about as soon as one τ fitted to it would.
    /// </summary>
    public static readonly IReadOnlyList<double> MixtureSpreads = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3];

    public static ErrorRateComparison Compare(RevisionMetrics target, RevisionMetrics baseline, ErrorRateIncrease allowed, double confidence)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(allowed);
        var (factor, margin) = allowed.Relative ? (allowed.Value, 0.0) : (1.0, allowed.Value);
        var difference = target.ErrorRate - (factor * baseline.ErrorRate) - margin;
        if (target.Requests == 0 || baseline.Requests == 0)
        {
            return new ErrorRateComparison(target.Requests, target.Errors, baseline.Requests, baseline.Errors, allowed, confidence,
                difference, double.NegativeInfinity, double.PositiveInfinity);
        }

        // The variance of the estimate, from rates kept off 0 and 1 (half an error added), so that a run of clean
        // requests is not taken for certainty.
        var variance = Variance(target.Errors, target.Requests) + (factor * factor * Variance(baseline.Errors, baseline.Requests));
        var halfWidth = AlwaysValidInterval.HalfWidth(variance, 1 - confidence, MixtureSpreads);
        return new ErrorRateComparison(target.Requests, target.Errors, baseline.Requests, baseline.Errors, allowed, confidence,
            difference, difference - halfWidth, difference + halfWidth);
    }

    private static double Variance(long errors, long requests)
    {
        var rate = (errors + 0.5) / (requests + 1.0);
        return rate * (1 - rate) / requests;
    }
}
