namespace Backstay.Core.Spec;

/// <summary>
/// A metric read from where a team keeps it (<c>analysis.metrics[]</c>): one query to one provider, judged against a
/// range. Exactly one provider is set.
/// </summary>
public sealed record MetricSpec
{
    /// <summary>The metric's name, shown in every verdict's evidence.</summary>
    public required string Name { get; init; }

    /// <summary>Fails when the value is above this.</summary>
    public double? Max { get; init; }

    /// <summary>Fails when the value is below this.</summary>
    public double? Min { get; init; }

    /// <summary>Measured and shown, never acted on.</summary>
    public bool DryRun { get; init; }

    /// <summary>How often the provider is asked (its data changes at its own pace: a scrape, a CloudWatch period).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);
}
