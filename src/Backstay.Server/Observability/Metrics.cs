using System.Collections.Concurrent;
using System.Text;
using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Model;

namespace Backstay.Server.Observability;

/// <summary>
/// GET /metrics in the Prometheus text format, computed from the store (the last 10,000 deployments), so every
/// replica on a shared store reports the same figures. What a finished deployment contributes never changes, and
/// is kept after the first scrape.
/// </summary>
internal sealed class Metrics(IControlPlane plane, Func<bool> engineRunning, EngineTimings timings, ILogger logger)
{
    public const int Window = 10_000;
    internal static readonly double[] StepBuckets = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
    internal static readonly double[] SafetyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly ConcurrentDictionary<string, Figures> _finished = new(StringComparer.Ordinal);

    public async Task<string> RenderAsync(CancellationToken cancellationToken)
    {
        var deployments = await plane.ListDeploymentsAsync(null, Window, cancellationToken);
        var active = await plane.ListActiveDeploymentsAsync(cancellationToken);
        var services = await plane.ListServicesAsync(cancellationToken);
        var outcomes = new SortedDictionary<(string Kind, string Outcome), long>();
        var steps = new SortedDictionary<string, Histogram>(StringComparer.Ordinal);
        var safety = new Histogram(SafetyBuckets);
        var byId = deployments.ToDictionary(d => d.Id, StringComparer.Ordinal);

        foreach (var deployment in deployments.Where(d => d.IsFinished))
        {
            var key = (deployment.Kind.ToString().ToLowerInvariant(), deployment.State.ToString());
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
            if (await FiguresAsync(deployment, byId, cancellationToken) is not { } figures)
            {
                continue;
            }

            foreach (var (action, seconds) in figures.Steps)
            {
                if (!steps.TryGetValue(action, out var histogram))
                {
                    steps[action] = histogram = new Histogram(StepBuckets);
                }

                histogram.Observe(seconds);
            }

            if (figures.TimeToSafety is { } tts)
            {
                safety.Observe(tts);
            }
        }

        // Deployments that left the window leave the cache too, so it stays as small as the window.
        foreach (var gone in _finished.Keys.Where(id => !byId.ContainsKey(id)))
        {
            _finished.TryRemove(gone, out _);
        }

        var text = new StringBuilder();
        Header(text, "backstay_deployments_total", "counter", "Finished deployments by kind (deploy, rollback, reset) and outcome (final state).");
        foreach (var ((kind, outcome), count) in outcomes)
        {
            Line(text, "backstay_deployments_total", $"kind=\"{kind}\",outcome=\"{outcome}\"", count);
        }

        Header(text, "backstay_deployments_in_progress", "gauge", "Deployments not finished yet (pending, in progress, paused, rolling back).");
        Line(text, "backstay_deployments_in_progress", null, active.Count);
        Header(text, "backstay_services", "gauge", "Services on record.");
        Line(text, "backstay_services", null, services.Count);
        Header(text, "backstay_engine_running", "gauge", "1 while this controller's deployment engine runs.");
        Line(text, "backstay_engine_running", null, engineRunning() ? 1 : 0);
        Header(text, "backstay_time_to_safety_seconds", "histogram",
            "From the first failed request of a bad revision to its production weight reaching 0, for automatic rollbacks.");
        Write(text, "backstay_time_to_safety_seconds", null, safety);
        Header(text, "backstay_step_duration_seconds", "histogram", "Duration of the steps of finished deployments, by plan action.");
        foreach (var (action, histogram) in steps)
        {
            Write(text, "backstay_step_duration_seconds", $"action=\"{action}\"", histogram);
        }

        Header(text, "backstay_engine_tick_seconds", "histogram",
            "Time this controller's engine takes for one decision on a running deployment: phase=\"watch\" is one tick (commands, crash loops, alarms, background analysis, progress), phase=\"analysis\" one evaluation of a step's analysis.");
        Write(text, "backstay_engine_tick_seconds", "phase=\"watch\"", timings.Watch);
        Write(text, "backstay_engine_tick_seconds", "phase=\"analysis\"", timings.Analysis);
        Header(text, "backstay_engine_observe_seconds", "histogram", "Time of one pass recording the platform's state of every service (for drift checks).");
        Write(text, "backstay_engine_observe_seconds", null, timings.Observe);

        return text.ToString();
    }

    private async Task<Figures?> FiguresAsync(Deployment deployment, IReadOnlyDictionary<string, Deployment> byId, CancellationToken cancellationToken)
    {
        if (_finished.TryGetValue(deployment.Id, out var cached))
        {
            return cached;
        }

        // A deployment rolled back is only complete once its rollback is: wait for that before caching.
        if (deployment.RolledBackBy is { } by && byId.TryGetValue(by, out var rollback) && rollback.IsActive)
        {
            return null;
        }

        try
        {
            var events = await plane.ListEventsAsync(deployment.Id, 0, cancellationToken);
            var figures = new Figures(StepDurations(deployment, events), await TimeToSafetyAsync(deployment, events, cancellationToken));
            _finished[deployment.Id] = figures;
            return figures;
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            ServerLog.MetricsFailed(logger, ex, deployment.Id);
            _finished[deployment.Id] = new Figures([], null);
            return null;
        }
    }

    /// <summary>Each StepStarted lasts until the next step starts or the deployment ends (succeeded, failed, stopped).</summary>
    internal static List<(string Action, double Seconds)> StepDurations(Deployment deployment, IReadOnlyList<DeploymentEvent> events)
    {
        var actions = PlanActions(deployment.PlanJson);
        var result = new List<(string, double)>();
        for (var i = 0; i < events.Count; i++)
        {
            var started = events[i];
            if (started.Type != "StepStarted")
            {
                continue;
            }

            var end = events.Skip(i + 1).FirstOrDefault(e => e.Type is "StepStarted" or "Succeeded" or "Failed" or "Stopped" or "RollingBack");
            if (end is null)
            {
                continue;
            }

            var action = started.Step is { } step && step >= 0 && step < actions.Count ? actions[step] : "unknown";
            result.Add((action, Math.Max(0, (end.At - started.At).TotalSeconds)));
        }

        return result;
    }

    private async Task<double?> TimeToSafetyAsync(Deployment deployment, IReadOnlyList<DeploymentEvent> events, CancellationToken cancellationToken)
    {
        if (deployment.SafeAt is not { } safe)
        {
            return null;
        }

        var firstError = FirstErrorAt(events);
        if (firstError is null && deployment.RolledBackBy is { } by)
        {
            firstError = FirstErrorAt(await plane.ListEventsAsync(by, 0, cancellationToken));
        }

        return firstError is { } first ? Math.Max(0, (safe - first).TotalSeconds) : null;
    }

    /// <summary>
    /// When time to safety starts: the first failed request when the platform saw one, otherwise the failure verdict
    /// (an alarm, a hook, a person), both recorded with the Failed event.
    /// </summary>
    internal static DateTimeOffset? FirstErrorAt(IEnumerable<DeploymentEvent> events)
    {
        DateTimeOffset? verdictAt = null;
        foreach (var e in events.Where(e => e.Type == "Failed" && e.DataJson is not null))
        {
            using var document = JsonDocument.Parse(e.DataJson!);
            if (document.RootElement.TryGetProperty("firstErrorAt", out var value) && value.ValueKind == JsonValueKind.String)
            {
                return value.GetDateTimeOffset();
            }

            if (verdictAt is null && document.RootElement.TryGetProperty("verdictAt", out var verdict) && verdict.ValueKind == JsonValueKind.String)
            {
                verdictAt = verdict.GetDateTimeOffset();
            }
        }

        return verdictAt;
    }

    private static List<string> PlanActions(string planJson)
    {
        using var document = JsonDocument.Parse(string.IsNullOrEmpty(planJson) ? "{}" : planJson);
        if (!document.RootElement.TryGetProperty("actions", out var actions) || actions.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        return [.. actions.EnumerateArray().Select(a => a.TryGetProperty("action", out var name) ? name.GetString() ?? "unknown" : "unknown")];
    }

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Line(StringBuilder text, string name, string? labels, double value) =>
        text.Append(name).Append(labels is null ? "" : "{" + labels + "}").Append(' ')
            .Append(value.ToString("0.######", CultureInfo.InvariantCulture)).Append('\n');

    private sealed record Figures(List<(string Action, double Seconds)> Steps, double? TimeToSafety);

    private static void Write(StringBuilder text, string name, string? labels, Histogram histogram)
    {
        var snapshot = histogram.Snapshot();
        var prefix = labels is null ? "" : labels + ",";
        for (var i = 0; i < snapshot.Bounds.Count; i++)
        {
            Line(text, name + "_bucket", prefix + "le=\"" + snapshot.Bounds[i].ToString(CultureInfo.InvariantCulture) + "\"", snapshot.Cumulative[i]);
        }

        Line(text, name + "_bucket", prefix + "le=\"+Inf\"", snapshot.Count);
        Line(text, name + "_sum", labels, snapshot.Sum);
        Line(text, name + "_count", labels, snapshot.Count);
    }
}
