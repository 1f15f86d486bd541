using System.Globalization;
using Backstay.Core.Ports;

namespace Backstay.Core.Analysis;

/// <summary>
/// The absolute error-rate limit (<c>errorRate.max</c>) as a sequential test: after every request it may be asked whether
/// the new revision's error rate p is above the limit p₀, with the chance of a false rollback held at α = 1 − confidence
/// over all the looks together. So it needs no fixed minimum sample: a revision failing 30% is caught after about a dozen
/// requests, one failing at the limit almost never.
/// </summary>
/// <remarks>
/// For each alternative p₁ the likelihood ratio Π (p₁/p₀)^error ((1−p₁)/(1−p₀))^success is a martingale when p = p₀ and a
/// supermartingale when p &lt; p₀ (for p₁ &gt; p₀), so the average over several p₁ is too, and by Ville's inequality it
/// reaches 1/α with probability at most α, however often it is looked at. The alternatives are multiples of the limit, so
/// a gross excess and a small one are both decided about as soon as one ratio fitted to them would. The same ratio with
/// p₁ below the limit says when the revision is within the limit with the same confidence (a pass sure enough to end an
/// analysis step early). docs/analysis.md gives the method and its measured behaviour.
/// </remarks>
public static class ErrorRateLimit
{
    /// <summary>The error rates the "above the limit" ratio weighs equally, as multiples of the limit.</summary>
    public static readonly IReadOnlyList<double> Above = [1.25, 1.5, 2, 3, 4, 5, 6, 7];

    /// <summary>The error rates the "within the limit" ratio weighs equally, as multiples of the limit.</summary>
    public static readonly IReadOnlyList<double> Below = [0.75, 0.5, 0.25, 0.1];

    public const string Test = "always-valid sequential binomial test";

    /// <summary>Judges the revision's errors against the limit. <paramref name="minRequests"/> is needed only for a pass that the test is not yet sure of.</summary>
    public static AnalysisCheck Check(RevisionMetrics metrics, double limit, double confidence, int minRequests, bool dryRun)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var critical = 1 / (1 - confidence);
        var above = LikelihoodRatio(metrics.Errors, metrics.Requests, limit, Above);
        var below = LikelihoodRatio(metrics.Errors, metrics.Requests, limit, Below);
        var figures = string.Create(CultureInfo.InvariantCulture,
            $"error rate {AnalysisEvaluator.Percent(metrics.ErrorRate)} ({metrics.Errors}/{metrics.Requests}) against the limit of {AnalysisEvaluator.Percent(limit)}");
        var (verdict, conclusive, reason) =
            above >= critical ? (Verdict.Fail, true, $"{figures} is above it: likelihood ratio {Ratio(above)} ≥ {Ratio(critical)} ({confidence * 100:0.#}% confidence)")
            : below >= critical ? (Verdict.Pass, true, $"{figures} is within it with {confidence * 100:0.#}% confidence (likelihood ratio {Ratio(below)})")
            : metrics.Requests >= minRequests ? (Verdict.Pass, false, $"{figures}, not above it (likelihood ratio {Ratio(above)} of the {Ratio(critical)} that fails)")
            : (Verdict.Inconclusive, false, $"{figures}: {metrics.Requests} of the {minRequests} requests needed to pass, not above it so far (likelihood ratio {Ratio(above)} of the {Ratio(critical)} that fails)");
        return new AnalysisCheck
        {
            Metric = "errorRate",
            Verdict = verdict,
            Test = Test,
            Threshold = "max " + AnalysisEvaluator.Percent(limit),
            Statistic = above,
            StatisticName = "likelihood ratio (above the limit)",
            Critical = critical,
            Target = Sample(metrics),
            Sequential = true,
            Conclusive = conclusive,
            DryRun = dryRun,
            Reason = reason,
        };
    }

    /// <summary>The mean over <paramref name="multiples"/> of the likelihood ratio of p₁ = multiple × limit against p = limit.</summary>
    public static double LikelihoodRatio(long errors, long requests, double limit, IReadOnlyList<double> multiples)
    {
        ArgumentNullException.ThrowIfNull(multiples);
        if (requests <= 0)
        {
            return 1;
        }

        if (limit <= 0)
        {
            // A limit of 0: one error is proof, and no number of clean requests is.
            return errors > 0 && multiples[0] > 1 ? double.PositiveInfinity : 1;
        }

        var successes = requests - errors;
        var logs = multiples.Select(m => Math.Min(m * limit, (1 + limit) / 2)).Where(p => p > 0 && p < 1 && p != limit)
            .Select(p => (errors * Math.Log(p / limit)) + (successes * Math.Log((1 - p) / (1 - limit))))
            .ToArray();
        return logs.Length == 0 ? 1 : Math.Exp(AlwaysValidInterval.LogMean(logs));
    }

    internal static MetricSample Sample(RevisionMetrics metrics) => new()
    {
        Revision = metrics.Revision,
        Requests = metrics.Requests,
        Errors = metrics.Errors,
        ErrorRate = metrics.ErrorRate,
        LatencyP50Ms = metrics.LatencyP50Ms,
        LatencyP99Ms = metrics.LatencyP99Ms,
    };

    private static string Ratio(double value) =>
        double.IsPositiveInfinity(value) ? "∞" : value.ToString(value < 10 ? "0.##" : "0", CultureInfo.InvariantCulture);
}
