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

    /// <summary>Every check acted on passed and its test is sure of it: an analysis step may end before its window.</summary>
    public bool PassedConclusively => Verdict == Verdict.Pass && Checks.Any(c => !c.DryRun) && Checks.Where(c => !c.DryRun).All(c => c.Conclusive);
}

/// <summary>
/// Judges a revision's figures against an <see cref="AnalysisSpec"/>: each check the spec asks for (the error-rate limit,
/// the comparisons with the stable revision, the latency limits) gives its verdict with its numbers, and the verdict is the
/// worst of those that are acted on (dry-run checks are measured and shown only). The error rate and the comparisons are
/// always-valid sequential tests: a failure counts at once, however often they are asked, with the false-rollback rate
/// held at 1 − <see cref="AnalysisSpec.Confidence"/>. docs/analysis.md gives the methods.
/// </summary>
public static class AnalysisEvaluator
{
    public static AnalysisResult Evaluate(AnalysisSpec spec, RevisionMetrics metrics) => Evaluate(spec, metrics, baseline: null);

    /// <summary>
    /// Judges the new revision's figures; with <paramref name="baseline"/> (the stable revision over the same window), also
    /// the comparisons with it the spec asks for.
    /// </summary>
    public static AnalysisResult Evaluate(AnalysisSpec spec, RevisionMetrics metrics, RevisionMetrics? baseline)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(metrics);
        var checks = new List<AnalysisCheck>();
        var comparison = spec.MaxErrorRateIncrease is { } allowed && baseline is not null
            ? BaselineComparison.Compare(metrics, baseline, allowed, spec.Confidence)
            : null;
        if (comparison is not null)
        {
            checks.Add(comparison.ToCheck(spec.MinRequests, spec.DryRun.Contains("errorRate"))
                with { Target = ErrorRateLimit.Sample(metrics), Baseline = ErrorRateLimit.Sample(baseline!) });
        }

        if (spec.MaxErrorRate is { } maxErrorRate)
        {
            checks.Add(ErrorRateLimit.Check(metrics, maxErrorRate, spec.Confidence, spec.MinRequests, spec.DryRun.Contains("errorRate")));
        }

        if (spec.MaxLatencyIncrease is { } slower && baseline is not null)
        {
            checks.Add(LatencyComparison.Check(metrics, baseline, slower, spec.Confidence, spec.MinRequests, spec.DryRun.Contains("latency")));
        }

        AddPercentileLimit(checks, spec, metrics, "latencyP99", spec.MaxLatencyP99, metrics.LatencyP99Ms);
        AddPercentileLimit(checks, spec, metrics, "latencyP90", spec.MaxLatencyP90, metrics.LatencyP90Ms);
        return Combine(checks, metrics) with { Comparison = comparison };
    }

    /// <summary>
    /// The verdict of the checks acted on: a failure if any fails, inconclusive if any cannot judge yet, a pass otherwise;
    /// with no check acted on, a pass once there is traffic.
    /// </summary>
    public static AnalysisResult Combine(IReadOnlyList<AnalysisCheck> checks, RevisionMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(checks);
        var acted = checks.Where(c => !c.DryRun).ToList();
        var dryRun = checks.Where(c => c.DryRun).Select(c => $"dry run {c.Metric} {Words(c.Verdict)}: {c.Reason}").ToList();
        string Reason(IEnumerable<AnalysisCheck> these) => string.Join("; ", these.Select(c => c.Reason).Concat(dryRun));
        if (acted.FirstOrDefault(c => c.Verdict == Verdict.Fail) is { } failed)
        {
            return new AnalysisResult(Verdict.Fail, failed.Reason, metrics) { Checks = checks };
        }

        var waiting = acted.Where(c => c.Verdict == Verdict.Inconclusive).ToList();
        if (waiting.Count > 0)
        {
            return new AnalysisResult(Verdict.Inconclusive, Reason(waiting), metrics) { Checks = checks };
        }

        if (acted.Count == 0 && metrics.Requests == 0)
        {
            return new AnalysisResult(Verdict.Inconclusive, "no requests yet", metrics) { Checks = checks };
        }

        var reason = acted.Count == 0 ? $"error rate {Percent(metrics.ErrorRate)} over {metrics.Requests} requests" : Reason(acted);
        return new AnalysisResult(Verdict.Pass, dryRun.Count > 0 && acted.Count == 0 ? $"{reason}; {Reason([])}" : reason, metrics) { Checks = checks };
    }

    private static string Words(Verdict verdict) => verdict switch
    {
        Verdict.Fail => "would fail",
        Verdict.Pass => "passes",
        _ => "cannot judge yet",
    };

    /// <summary>A percentile against its limit: not a sequential test, so it needs minRequests either way and consecutiveFailures to fail.</summary>
    private static void AddPercentileLimit(List<AnalysisCheck> checks, AnalysisSpec spec, RevisionMetrics metrics, string metric, TimeSpan? limit, double? actual)
    {
        if (limit is not { } max)
        {
            return;
        }

        var limitMs = max.TotalMilliseconds;
        var name = "p" + metric[^2..];
        if (actual is null && metrics.Requests > 0)
        {
            // Not every platform gives every percentile (ECS: p50, p90, p99); what it does not give is not judged.
            return;
        }

        var enough = metrics.Requests >= spec.MinRequests;
        var fails = enough && actual > limitMs;
        checks.Add(new AnalysisCheck
        {
            Metric = metric,
            Verdict = !enough ? Verdict.Inconclusive : fails ? Verdict.Fail : Verdict.Pass,
            Conclusive = fails,
            Test = "percentile limit",
            Threshold = string.Create(CultureInfo.InvariantCulture, $"max {limitMs:0} ms"),
            Statistic = actual,
            StatisticName = $"{name} (ms)",
            Critical = limitMs,
            Target = ErrorRateLimit.Sample(metrics),
            DryRun = spec.DryRun.Contains(metric),
            Reason = !enough
                ? $"{metrics.Requests} of the {spec.MinRequests} requests needed to judge {name} latency"
                : string.Create(CultureInfo.InvariantCulture, $"{name} latency {actual:0} ms is {(fails ? "above" : "within")} the limit of {limitMs:0} ms"),
        });
    }

    public static string Percent(double fraction) =>
        (fraction * 100).ToString(fraction * 100 < 10 ? "0.##" : "0.#", CultureInfo.InvariantCulture) + "%";
}

/// <summary>Counts consecutive failing evaluations so a single bad window does not roll back a release.</summary>
public sealed class ConsecutiveFailureCounter(int required)
{
    private int _failures;
    private DateTimeOffset? _lastCounted;

    public int Failures => _failures;

    /// <summary>Starts counting again (after a person accepted a failed analysis).</summary>
    public void Reset() => (_failures, _lastCounted) = (0, null);

    /// <summary>
    /// Records a result; true when the required number of consecutive failures has been reached, or at once when an
    /// always-valid sequential test failed (its false-rollback rate already holds across every look; waiting adds nothing)
    /// or a custom metric failed (it counted its own readings in a row).
    /// </summary>
    public bool Record(AnalysisResult result) => Record(result, at: null, spacing: TimeSpan.Zero);

    /// <summary>
    /// Records a result seen at <paramref name="at"/>; a failure counts only when <paramref name="spacing"/> (the analysis
    /// interval) has passed since the last one counted, so looks made as requests arrive, many per interval, do not use up
    /// consecutiveFailures faster than the spec's interval says.
    /// </summary>
    public bool Record(AnalysisResult result, DateTimeOffset? at, TimeSpan spacing)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Verdict == Verdict.Pass)
        {
            _failures = 0;
        }
        else if (result.Verdict == Verdict.Fail && (at is null || _lastCounted is null || at.Value - _lastCounted.Value >= spacing))
        {
            _failures++;
            _lastCounted = at;
        }

        return _failures >= required || (result.Verdict == Verdict.Fail && result.Checks.Any(c => c is { Verdict: Verdict.Fail, DryRun: false } && (c.Sequential || c.Readings is not null)));
    }
}
