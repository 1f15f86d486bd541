using System.Globalization;
using Backstay.Core.Ports;

namespace Backstay.Core.Analysis;

/// <summary>
/// Compares the new revision's latency with the stable revision's over the same window (<c>latency.maxIncrease</c>: the new
/// revision may be at most that much slower). Where the platform gives every request's latency (the local platform) it is a
/// Mann–Whitney U test of the new revision's samples, less the allowed increase, against the stable revision's, made
/// always-valid like the error-rate comparison so it may be asked at every look; where the platform gives only percentiles
/// (ECS) it compares the medians. docs/analysis.md gives the method and its assumptions.
/// </summary>
public static class LatencyComparison
{
    public const string RankTest = "always-valid Mann–Whitney U test";

    public const string PercentileTest = "median comparison (the platform gives percentiles, not samples)";

    /// <summary>The spreads of the difference P(new − allowed &gt; stable) − ½ the mixture weighs equally.</summary>
    public static readonly IReadOnlyList<double> MixtureSpreads = [0.01, 0.03, 0.1, 0.3];

    public static AnalysisCheck Check(RevisionMetrics target, RevisionMetrics baseline, TimeSpan allowed, double confidence, int minRequests, bool dryRun)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(baseline);
        var allowedMs = allowed.TotalMilliseconds;
        var check = new AnalysisCheck
        {
            Metric = "latency.maxIncrease",
            Verdict = Verdict.Inconclusive,
            Test = RankTest,
            Threshold = string.Create(CultureInfo.InvariantCulture, $"at most {allowedMs:0.#} ms slower than the stable revision"),
            Target = ErrorRateLimit.Sample(target),
            Baseline = ErrorRateLimit.Sample(baseline),
            DryRun = dryRun,
            Reason = "",
        };
        var medians = string.Create(CultureInfo.InvariantCulture,
            $"median latency {Ms(target.LatencyP50Ms)} ({target.Requests} requests) against the stable revision's {Ms(baseline.LatencyP50Ms)} ({baseline.Requests})");
        if (target.LatencySamplesMs is not { Count: > 0 } x || baseline.LatencySamplesMs is not { Count: > 0 } y)
        {
            return target.LatencySamplesMs is null || baseline.LatencySamplesMs is null
                ? ByMedians(check, target, baseline, allowedMs, minRequests, medians)
                : check with { Reason = $"{medians}: no requests to compare yet" };
        }

        var (u, variance) = RankSum(x, y, allowedMs);
        double n = x.Count, m = y.Count;
        var difference = (u / (n * m)) - 0.5;
        var half = AlwaysValidInterval.HalfWidth(Math.Max(variance / (n * n * m * m), 1e-12), 1 - confidence, MixtureSpreads);
        var (lower, upper) = (difference - half, difference + half);
        var interval = string.Create(CultureInfo.InvariantCulture,
            $"P(new − {allowedMs:0.#} ms > stable) = {difference + 0.5:0.###}, {confidence * 100:0.#}% always-valid interval [{lower + 0.5:0.###}, {upper + 0.5:0.###}]");
        var (verdict, conclusive, words) = lower > 0 ? (Verdict.Fail, true, "slower than allowed")
            : upper < 0 ? (Verdict.Pass, true, "within the allowed increase")
            : x.Count >= minRequests ? (Verdict.Pass, false, "not shown slower than allowed")
            : (Verdict.Inconclusive, false, $"{x.Count} of the {minRequests} requests needed to pass");
        return check with
        {
            Verdict = verdict,
            Conclusive = conclusive,
            Sequential = true,
            Statistic = u,
            StatisticName = "U",
            Lower = lower + 0.5,
            Upper = upper + 0.5,
            Critical = 0.5,
            Reason = $"{medians}: {words}; {interval}",
        };
    }

    /// <summary>
    /// U = the pairs (new, stable) where the new request, less the allowed increase, was slower (ties count half), and its
    /// variance when the two are alike (with the correction for ties: latencies in whole milliseconds tie often).
    /// </summary>
    internal static (double U, double Variance) RankSum(IReadOnlyList<int> target, IReadOnlyList<int> baseline, double allowedMs)
    {
        var stable = baseline.ToArray();
        Array.Sort(stable);
        double u = 0;
        var shifted = new double[target.Count];
        for (var i = 0; i < target.Count; i++)
        {
            shifted[i] = target[i] - allowedMs;
            var below = LowerBound(stable, shifted[i], strict: true);
            var notAbove = LowerBound(stable, shifted[i], strict: false);
            u += below + ((notAbove - below) / 2.0);
        }

        // Σ(t³ − t) over groups of tied values in both samples together.
        double ties = 0;
        foreach (var group in shifted.Concat(stable.Select(v => (double)v)).GroupBy(v => v))
        {
            double t = group.Count();
            ties += (t * t * t) - t;
        }

        double n = target.Count, m = stable.Length, total = n + m;
        var variance = n * m / 12.0 * ((total + 1) - (ties / (total * (total - 1))));
        return (u, variance);
    }

    private static AnalysisCheck ByMedians(AnalysisCheck check, RevisionMetrics target, RevisionMetrics baseline, double allowedMs, int minRequests, string medians)
    {
        if (target.LatencyP50Ms is not { } newMedian || baseline.LatencyP50Ms is not { } stableMedian || target.Requests < minRequests)
        {
            return check with { Test = PercentileTest, Reason = $"{medians}: {target.Requests} of the {minRequests} requests needed to judge" };
        }

        var increase = newMedian - stableMedian;
        return check with
        {
            Test = PercentileTest,
            Verdict = increase > allowedMs ? Verdict.Fail : Verdict.Pass,
            Conclusive = increase > allowedMs,
            Statistic = increase,
            StatisticName = "median increase (ms)",
            Critical = allowedMs,
            Reason = string.Create(CultureInfo.InvariantCulture, $"{medians}: {increase:0.#} ms slower, {(increase > allowedMs ? "more" : "not more")} than the allowed {allowedMs:0.#} ms"),
        };
    }

    /// <summary>How many of the sorted values are below (strict) or at most (not strict) the value.</summary>
    private static int LowerBound(int[] sorted, double value, bool strict)
    {
        int low = 0, high = sorted.Length;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (strict ? sorted[middle] < value : sorted[middle] <= value)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    private static string Ms(double? value) => value is { } v ? v.ToString("0.#", CultureInfo.InvariantCulture) + " ms" : "–";
}
