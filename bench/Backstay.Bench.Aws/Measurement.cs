namespace Backstay.Bench.Aws;

/// <summary>One measured CLI process: what Backstay counted (its report's apiCalls) and what moto received with its key.</summary>
internal sealed class Measurement
{
    public required string Strategy { get; init; }

    /// <summary>first (creates the service), succeeded, rolledBack (alarm mid-way), manualRollback, or growth-N.</summary>
    public required string Case { get; init; }

    public required int Run { get; init; }

    public required CliResult Cli { get; init; }

    public string? Note { get; init; }

    public Dictionary<string, int> Moto { get; set; } = new(StringComparer.Ordinal);

    public int MotoTotal => Moto.Values.Sum();

    public int? BackstayTotal => Cli.ApiCalls?.Total;

    public Dictionary<string, int> BackstayOps => Cli.ApiCalls?.ByOperation ?? new Dictionary<string, int>(StringComparer.Ordinal);

    public bool Matches => BackstayTotal == MotoTotal && BackstayOps.Count == Moto.Count && BackstayOps.All(kv => Moto.GetValueOrDefault(kv.Key) == kv.Value);

    /// <summary>Operations where the two counts differ, with Backstay's count minus moto's.</summary>
    public IEnumerable<(string Operation, int Difference)> Differences =>
        BackstayOps.Keys.Union(Moto.Keys).Order(StringComparer.Ordinal)
            .Where(op => BackstayOps.GetValueOrDefault(op) != Moto.GetValueOrDefault(op))
            .Select(op => (op, BackstayOps.GetValueOrDefault(op) - Moto.GetValueOrDefault(op)));

    /// <summary>The deployment's own duration (createdAt → finishedAt of the report), in ms.</summary>
    public double? DeploymentMs
    {
        get
        {
            if (Cli.Report is not { } r || r.ValueKind != System.Text.Json.JsonValueKind.Object
                || !r.TryGetProperty("createdAt", out var c) || !r.TryGetProperty("finishedAt", out var f) || f.ValueKind != System.Text.Json.JsonValueKind.String)
            {
                return null;
            }

            return (f.GetDateTimeOffset() - c.GetDateTimeOffset()).TotalMilliseconds;
        }
    }
}
