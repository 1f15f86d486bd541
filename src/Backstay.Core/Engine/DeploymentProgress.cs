using System.Text.Json;
using System.Text.Json.Serialization;
using Backstay.Core.Analysis;
using Backstay.Core.Model;

namespace Backstay.Core.Engine;

/// <summary>Live figures of a running deployment, for progress output.</summary>
public sealed record DeploymentProgress
{
    internal static JsonSerializerOptions JsonOptions => CoreJson.Web;

    public int TargetWeight { get; init; }
    public int TargetHealthy { get; init; }
    public int TargetDesired { get; init; }
    public int StableHealthy { get; init; }
    public int StableDesired { get; init; }
    public long? Requests { get; init; }
    public double? ErrorRate { get; init; }
    public double? LatencyP99Ms { get; init; }

    /// <summary>
    /// The latest analysis of the target's production traffic, shown beside its health: instances can all pass their
    /// health checks while the revision fails a fifth of its requests. Null until the target has production traffic.
    /// </summary>
    public AnalysisReading? Analysis { get; init; }

    public static DeploymentProgress? Parse(string? json) => json is null ? null : BackstayJson.Deserialize<DeploymentProgress>(json, JsonOptions);
}

/// <summary>One evaluation of the background analysis as people see it: the verdict, its words, and how close it is to rolling back.</summary>
/// <param name="Verdict">Pass, Fail, or Inconclusive (too few requests to judge).</param>
/// <param name="Reason">The figures behind the verdict, e.g. "error rate 20.9% (25/120) is above the limit of 5.0%".</param>
/// <param name="Failures">Failed evaluations in a row so far.</param>
/// <param name="FailuresToRollBack">Failed evaluations in a row that roll the deployment back (analysis.consecutiveFailures).</param>
/// <param name="At">When it was evaluated.</param>
public sealed record AnalysisReading(
    [property: JsonConverter(typeof(JsonStringEnumConverter<Verdict>))] Verdict Verdict,
    string Reason,
    int Failures,
    int FailuresToRollBack,
    DateTimeOffset At)
{
    /// <summary>The numbers of every check behind the verdict: sample sizes, rates, the test, its statistic and the threshold.</summary>
    public IReadOnlyList<AnalysisCheck> Checks { get; set; } = [];
}
