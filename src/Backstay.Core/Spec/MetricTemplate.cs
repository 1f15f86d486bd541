using System.Globalization;
using System.Text.RegularExpressions;

namespace Backstay.Core.Spec;

/// <summary>
/// Fills in a metric query's placeholders for one reading: <c>{{service}}</c>, <c>{{revision}}</c> (the new revision),
/// <c>{{stableRevision}}</c> (the one it replaces; empty for a first deployment), <c>{{window}}</c> (the analysis window as
/// a Prometheus duration, e.g. <c>30s</c>) and <c>{{windowSeconds}}</c>.
/// </summary>
public static partial class MetricTemplate
{
    public static IReadOnlyList<string> Names { get; } = ["service", "revision", "stableRevision", "window", "windowSeconds"];

    /// <summary>The placeholders in <paramref name="template"/> that are not one of <see cref="Names"/>.</summary>
    public static IReadOnlyList<string> Unknown(string template) =>
        [.. Placeholder().Matches(template ?? "").Select(m => m.Groups[1].Value).Where(name => !Names.Contains(name)).Distinct()];

    /// <summary>The template with its placeholders filled in; <paramref name="escape"/> is applied to each value (URL-escaping for a URL).</summary>
    public static string Render(string template, MetricQuery query, Func<string, string>? escape = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(query);
        var seconds = Math.Max(1, (long)Math.Ceiling(query.Window.TotalSeconds));
        return Placeholder().Replace(template, m =>
        {
            var value = m.Groups[1].Value switch
            {
                "service" => query.Service,
                "revision" => query.Revision.ToString(CultureInfo.InvariantCulture),
                "stableRevision" => query.StableRevision?.ToString(CultureInfo.InvariantCulture) ?? "",
                "window" => string.Create(CultureInfo.InvariantCulture, $"{seconds}s"),
                "windowSeconds" => seconds.ToString(CultureInfo.InvariantCulture),
                _ => null,
            };
            return value is null ? m.Value : escape?.Invoke(value) ?? value;
        });
    }

    [GeneratedRegex(@"\{\{\s*([A-Za-z]+)\s*\}\}")]
    private static partial Regex Placeholder();
}

/// <summary>What one reading of a metric is about: the service, the revisions and the window ending at <see cref="End"/>.</summary>
public sealed record MetricQuery(string Service, int Revision, int? StableRevision, TimeSpan Window, DateTimeOffset End);
