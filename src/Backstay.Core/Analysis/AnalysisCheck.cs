using System.Text.Json.Serialization;

namespace Backstay.Core.Analysis;

/// <summary>
/// The numbers one check of an analysis verdict stood on: what was measured on each revision, the test, its statistic
/// and the threshold. Every verdict (pass, fail, inconclusive) carries its checks into the event timeline, the
/// deployment's progress and JSON, the API and the dashboard, so "why did it roll back" and "why did it pass" are both
/// answered with numbers.
/// </summary>
public sealed record AnalysisCheck
{
    /// <summary>
    /// What was checked: <c>errorRate</c> (the absolute limit), <c>errorRate.maxIncrease</c> (against the stable
    /// revision), <c>latency.maxIncrease</c>, <c>latencyP99</c>, <c>latencyP90</c>, or a custom metric's name.
    /// </summary>
    public required string Metric { get; init; }

    [JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
    public required Verdict Verdict { get; init; }

    /// <summary>The test, in words: e.g. "always-valid binomial test", "always-valid two-proportion test (mSPRT)".</summary>
    public required string Test { get; init; }

    /// <summary>The threshold in the spec's terms: "max 5%", "at most +1 point over the stable revision", "max 300 ms".</summary>
    public required string Threshold { get; init; }

    /// <summary>The test's statistic, when it has one (see <see cref="StatisticName"/>).</summary>
    public double? Statistic { get; init; }

    /// <summary>What <see cref="Statistic"/> is: "likelihood ratio", "U", "value", ...</summary>
    public string? StatisticName { get; init; }

    /// <summary>The value the statistic is held against (e.g. 1/α for a likelihood ratio).</summary>
    public double? Critical { get; init; }

    /// <summary>Lower end of the confidence interval of the compared quantity, when the test gives one.</summary>
    public double? Lower { get; init; }

    /// <summary>Upper end of that interval.</summary>
    public double? Upper { get; init; }

    /// <summary>The new revision's figures.</summary>
    public MetricSample? Target { get; init; }

    /// <summary>The stable revision's figures over the same window, for a comparison.</summary>
    public MetricSample? Baseline { get; init; }

    /// <summary>
    /// An always-valid sequential test: its false-rollback rate holds across every look, so a failure counts at once (no
    /// <c>consecutiveFailures</c>), and a pass it is sure of may end an analysis step before its window.
    /// </summary>
    public bool Sequential { get; init; }

    /// <summary>
    /// For a custom metric, the readings in a row that were out of range. Such a check already waited for
    /// <c>consecutiveFailures</c> readings of its own (each counted once, however often it is looked at), so its failure
    /// counts at once.
    /// </summary>
    public int? Readings { get; init; }

    /// <summary>The evidence is strong enough for this verdict (always for a fail; for a pass, the test is sure of it).</summary>
    public bool Conclusive { get; init; }

    /// <summary>Measured and shown, never acted on (the metric's <c>dryRun</c>).</summary>
    public bool DryRun { get; init; }

    /// <summary>The check in words with its numbers.</summary>
    public required string Reason { get; init; }
}

/// <summary>One revision's figures in a check: request counts and latency for the built-in source, a value for a custom metric.</summary>
public sealed record MetricSample
{
    public int Revision { get; init; }
    public long? Requests { get; init; }
    public long? Errors { get; init; }
    public double? ErrorRate { get; init; }
    public double? LatencyP50Ms { get; init; }
    public double? LatencyP99Ms { get; init; }

    /// <summary>A custom metric's value (what its query returned).</summary>
    public double? Value { get; init; }
}
