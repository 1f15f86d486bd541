using System.Globalization;
using Backstay.Core.Analysis;

namespace Backstay.Cli.Infrastructure;

/// <summary>
/// Prints what a followed deployment does: every event once, as a line. On a terminal, one live line under them (state,
/// step and its name, traffic split, healthy instances per revision, error rate, elapsed) is redrawn in place, erased
/// before an event line is printed and drawn again under it, and cut to the terminal's width so it never wraps. Output
/// that is not a terminal gets the event lines only, with no escape codes.
/// </summary>
/// <remarks>
/// Each call shows one snapshot: the events read, then the deployments read after them. The live line comes from those
/// deployments, so it never shows older figures than an event printed above it (the engine records a figure before the
/// event that states it).
/// </remarks>
internal sealed class ProgressRenderer(IAnsiConsole console, TimeProvider? time = null)
{
    /// <summary>Carriage return, then erase the whole line.</summary>
    private const string EraseLine = "\r\u001b[2K";

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, IReadOnlyList<PlanAction>?> _plans = new(StringComparer.Ordinal);
    private string? _shown;

    /// <summary>A terminal that takes escape codes: the live line is drawn there only.</summary>
    public bool Live => console.Profile.Capabilities.Ansi;

    /// <summary>Prints the fresh events, then (on a terminal) the live line of the snapshot read after them.</summary>
    public void Show(IEnumerable<DeploymentEvent> fresh, IReadOnlyList<Deployment> snapshot)
    {
        var events = fresh.OrderBy(e => e.At).ThenBy(e => e.Sequence).ToList();
        if (events.Count > 0)
        {
            Clear();
            foreach (var e in events)
            {
                console.MarkupLine($"[grey]{e.At.ToLocalTime():HH:mm:ss.fff}[/] [bold]{Markup.Escape(e.DeploymentId)}[/] {Colour(e.Type)}{Markup.Escape(e.Message)}[/]");
            }
        }

        if (!Live)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var width = console.Profile.Width;
        var line = LiveLine(snapshot, now, _plans, stepNames: true);
        if (line is not null && line.Length >= width)
        {
            // A narrow terminal: the figures matter more than the step's name.
            line = LiveLine(snapshot, now, _plans, stepNames: false);
        }

        var fitted = line is null ? null : Fit(line, width);
        if (fitted is null)
        {
            Clear();
        }
        else if (fitted != _shown)
        {
            console.Write(new ControlCode(EraseLine));
            console.Markup($"[grey]{Markup.Escape(fitted)}[/]");
            _shown = fitted;
        }
    }

    /// <summary>Erases the live line, if one is shown, leaving the cursor at the start of that empty line.</summary>
    public void Clear()
    {
        if (_shown is not null)
        {
            console.Write(new ControlCode(EraseLine));
            _shown = null;
        }
    }

    /// <summary>The live line of the deployment that moves now (the rollback once there is one), or null when none does.</summary>
    public static string? LiveLine(IReadOnlyList<Deployment> snapshot, DateTimeOffset now) => LiveLine(snapshot, now, null, stepNames: true);

    private static string? LiveLine(IReadOnlyList<Deployment> snapshot, DateTimeOffset now, Dictionary<string, IReadOnlyList<PlanAction>?>? plans, bool stepNames)
    {
        var d = snapshot.LastOrDefault(d => d.IsActive && d.State != DeploymentState.RollingBack);
        if (d is null)
        {
            return null;
        }

        var parts = new List<string> { StateWord(d.State) };
        if (d.TotalSteps > 0)
        {
            var index = Math.Clamp(d.CurrentStep, 0, d.TotalSteps - 1);
            var name = stepNames && Actions(d, plans) is { } actions && index < actions.Count ? " " + actions[index].Describe() : "";
            parts.Add($"step {index + 1}/{d.TotalSteps}{name}");
        }

        parts.Add(d.StableRevision is { } s && s != d.TargetRevision
            ? $"traffic r{d.TargetRevision} {d.TargetWeight}% / r{s} {100 - d.TargetWeight}%"
            : $"traffic r{d.TargetRevision} {d.TargetWeight}%");
        if (DeploymentProgress.Parse(d.ProgressJson) is { } p)
        {
            parts.Add($"healthy r{d.TargetRevision} {p.TargetHealthy}/{p.TargetDesired}"
                + (d.StableRevision is { } st && st != d.TargetRevision ? $", r{st} {p.StableHealthy}/{p.StableDesired}" : ""));
            if (p.ErrorRate is { } rate)
            {
                parts.Add($"error rate {AnalysisEvaluator.Percent(rate)} of {p.Requests} req");
            }

            if (p.LatencyP99Ms is { } latency)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"p99 {latency:0} ms"));
            }
        }

        parts.Add(Elapsed(now - d.CreatedAt));
        return string.Join(" | ", parts);
    }

    /// <summary>The line cut so that it fits in one row short of the last column (a full row wraps on some terminals), ending in "…" when cut.</summary>
    public static string? Fit(string line, int width)
    {
        var room = width - 1;
        if (room < 2)
        {
            return null;
        }

        return line.Length <= room ? line : line[..(room - 1)] + "…";
    }

    private static IReadOnlyList<PlanAction>? Actions(Deployment d, Dictionary<string, IReadOnlyList<PlanAction>?>? plans)
    {
        if (plans is not null && plans.TryGetValue(d.PlanJson, out var known))
        {
            return known;
        }

        IReadOnlyList<PlanAction>? actions;
        try
        {
            actions = d.PlanJson is "{}" or "" ? null : DeploymentPlan.FromJson(d.PlanJson).Actions;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            actions = null;
        }

        if (plans is not null)
        {
            plans[d.PlanJson] = actions;
        }

        return actions;
    }

    private static string StateWord(DeploymentState state) => state switch
    {
        DeploymentState.InProgress => "in progress",
        DeploymentState.RollingBack => "rolling back",
        _ => state.ToString().ToLowerInvariant(),
    };

    private static string Elapsed(TimeSpan elapsed)
    {
        if (elapsed < TimeSpan.Zero)
        {
            elapsed = TimeSpan.Zero;
        }

        return elapsed.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)elapsed.TotalHours}h{elapsed.Minutes:00}m")
            : elapsed.TotalMinutes >= 1
                ? string.Create(CultureInfo.InvariantCulture, $"{elapsed.Minutes}m{elapsed.Seconds:00}s")
                : string.Create(CultureInfo.InvariantCulture, $"{elapsed.Seconds}s");
    }

    private static string Colour(string type) => type switch
    {
        "Failed" or "RollingBack" or "RollbackStarted" => "[red]",
        "Safe" or "Succeeded" or "RollbackSucceeded" or "RolledBack" or "AnalysisPassed" => "[green]",
        "Paused" => "[yellow]",
        _ => "[default]",
    };
}
