using System.Globalization;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Analysis;

/// <summary>The verdict on one evaluation of a revision's figures.</summary>
public enum Verdict
{
    /// <summary>Not enough requests yet to judge.</summary>
    Inconclusive,
    Pass,
    Fail,
}

/// <summary>One evaluation's outcome with a human-readable reason.</summary>
public sealed record AnalysisResult(Verdict Verdict, string Reason, RevisionMetrics Metrics)
{
    /// <summary>The comparison with the stable revision, when the spec asks for one.</summary>
    public ErrorRateComparison? Comparison { get; init; }

    /// <summary>The numbers of every check behind the verdict, dry-run ones included.</summary>
    public IReadOnlyList<AnalysisCheck> Checks { get; init; } = [];
}

/// <summary>
/// Judges a revision's figures against an <see cref="AnalysisSpec"/>. The error rate only fails a revision
/// when it is above the limit with 95% confidence (the Wilson score interval's lower bound), so a good
/// revision's random errors below the limit do not roll it back, while a clearly bad one is caught from a
/// small sample.
/// </summary>
public static class AnalysisEvaluator
{
    private const double Z = 1.96;

    public static AnalysisResult Evaluate(AnalysisSpec spec, RevisionMetrics metrics) => Evaluate(spec, metrics, baseline: null);

    /// <summary>
    /// Judges the new revision's figures; with <paramref name="baseline"/> (the stable revision over the same window) and
    /// <see cref="AnalysisSpec.MaxErrorRateIncrease"/>, also against the stable revision. The comparison needs no minimum
    /// sample: its interval is too wide to fail anything until the evidence is there, at any number of looks.
    /// </summary>
    public static AnalysisResult Evaluate(AnalysisSpec spec, RevisionMetrics metrics, RevisionMetrics? baseline)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(metrics);
        var comparison = spec.MaxErrorRateIncrease is { } allowed && baseline is not null
            ? BaselineComparison.Compare(metrics, baseline, allowed, spec.Confidence)
            : null;
        var result = Judge(spec, metrics, comparison);
        return comparison is null ? result : result with { Comparison = comparison };
    }

    private static AnalysisResult Judge(AnalysisSpec spec, RevisionMetrics metrics, ErrorRateComparison? comparison)
    {
        if (comparison is { Worse: true })
        {
            return new AnalysisResult(Verdict.Fail, $"worse than the stable revision: {comparison.Describe()}", metrics);
        }

        if (metrics.Requests < spec.MinRequests)
        {
            return new AnalysisResult(Verdict.Inconclusive,
                $"{metrics.Requests} of the {spec.MinRequests} requests needed to judge" + (comparison is null ? "" : $"; {comparison.Describe()}"), metrics);
        }

        if (spec.MaxErrorRate is { } maxErrorRate)
        {
            var lower = WilsonLowerBound(metrics.Errors, metrics.Requests);
            if (lower > maxErrorRate)
            {
                return new AnalysisResult(Verdict.Fail,
                    $"error rate {Percent(metrics.ErrorRate)} ({metrics.Errors}/{metrics.Requests}) is above the limit of {Percent(maxErrorRate)}",
                    metrics);
            }
        }

        if (spec.MaxLatencyP99 is { } p99 && metrics.LatencyP99Ms is { } actualP99 && actualP99 > p99.TotalMilliseconds)
        {
            return new AnalysisResult(Verdict.Fail,
                $"p99 latency {actualP99:0} ms is above the limit of {p99.TotalMilliseconds:0} ms", metrics);
        }

        if (spec.MaxLatencyP90 is { } p90 && metrics.LatencyP90Ms is { } actualP90 && actualP90 > p90.TotalMilliseconds)
        {
            return new AnalysisResult(Verdict.Fail,
                $"p90 latency {actualP90:0} ms is above the limit of {p90.TotalMilliseconds:0} ms", metrics);
        }

        return new AnalysisResult(Verdict.Pass,
            comparison is null ? $"error rate {Percent(metrics.ErrorRate)} over {metrics.Requests} requests" : comparison.Describe(), metrics);
    }

    /// <summary>Lower bound of the 95% Wilson score interval of a proportion.</summary>
    public static double WilsonLowerBound(long successes, long trials)
    {
        if (trials <= 0)
        {
            return 0;
        }

        double n = trials;
        var p = successes / n;
        var z2 = Z * Z;
        var centre = p + (z2 / (2 * n));
        var margin = Z * Math.Sqrt((p * (1 - p) / n) + (z2 / (4 * n * n)));
        return Math.Max(0, (centre - margin) / (1 + (z2 / n)));
    }

    public static string Percent(double fraction) =>
        (fraction * 100).ToString(fraction * 100 < 10 ? "0.##" : "0.#", CultureInfo.InvariantCulture) + "%";
}

/// <summary>Counts consecutive failing evaluations so a single bad window does not roll back a release.</summary>
public sealed class ConsecutiveFailureCounter(int required)
{
    private int _failures;

    public int Failures => _failures;

    /// <summary>Records a result; true when the required number of consecutive failures has been reached.</summary>
    public bool Record(AnalysisResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        _failures = result.Verdict == Verdict.Fail ? _failures + 1 : result.Verdict == Verdict.Pass ? 0 : _failures;
        return _failures >= required;
    }
}
