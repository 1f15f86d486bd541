using System.Text.Json;

namespace Backstay.Core.Engine;

/// <summary>Live figures of a running deployment, for progress output.</summary>
public sealed record DeploymentProgress
{
    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public int TargetWeight { get; init; }
    public int TargetHealthy { get; init; }
    public int TargetDesired { get; init; }
    public int StableHealthy { get; init; }
    public int StableDesired { get; init; }
    public long? Requests { get; init; }
    public double? ErrorRate { get; init; }
    public double? LatencyP99Ms { get; init; }

    public static DeploymentProgress? Parse(string? json) => json is null ? null : JsonSerializer.Deserialize<DeploymentProgress>(json, JsonOptions);
}
