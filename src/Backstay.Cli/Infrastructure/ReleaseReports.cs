using System.Globalization;

namespace Backstay.Cli.Infrastructure;

/// <summary>One service of a release in `--output json` (schema/output/release-report.schema.json).</summary>
internal sealed record ReleaseServiceView(
    string Service,
    IReadOnlyList<string> DependsOn,
    string? DeploymentId,
    int? FromRevision,
    int ToRevision,
    string Outcome,
    string? RollbackDeploymentId,
    string? Reason);

/// <summary>One entry of a release's timeline.</summary>
internal sealed record ReleaseEventView(DateTimeOffset At, string Type, string Message);

/// <summary>A release as `backstay release`, and `status`, `rollback`, `continue`, `stop` and `history` given a release id, print it.</summary>
internal sealed record ReleaseView(
    int SchemaVersion,
    string Id,
    string Release,
    string Outcome,
    string OnFailure,
    string? Reason,
    string? FailedService,
    long? TimeToRestoreMs,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    IReadOnlyList<ReleaseServiceView> Services,
    IReadOnlyList<ReleaseEventView> Events);

/// <summary>How the CLI shows, waits for and acts on releases: one place for every command that takes a release id.</summary>
internal static class ReleaseReports
{
    /// <summary>The outcome word: the release's phase, "Paused" while it waits for a person.</summary>
    public static string Outcome(Release release) => release.WaitsForPerson ? "Paused" : release.Phase.ToString();

    public static int ExitCode(Release release) => Outcome(release) switch
    {
        "RolledBack" => ExitCodes.RolledBack,
        "Failed" => ExitCodes.Failed,
        "Paused" => ExitCodes.Paused,
        "Stopped" => ExitCodes.Stopped,
        _ => ExitCodes.Succeeded,
    };

    public static async Task<ReleaseView> BuildAsync(IControlPlane control, Release release, CancellationToken cancellationToken)
    {
        var events = await control.ListEventsAsync(release.Id, 0, cancellationToken);
        return new ReleaseView(
            Reports.SchemaVersion,
            release.Id,
            release.Name,
            Outcome(release),
            JsonNamingPolicy.CamelCase.ConvertName(release.OnFailure.ToString()),
            release.Reason,
            release.FailedService,
            release.TimeToRestoreMs,
            release.CreatedAt,
            release.FinishedAt,
            [.. release.Members.Select(m => new ReleaseServiceView(m.Service, m.DependsOn, m.DeploymentId, m.FromRevision, m.ToRevision, m.State.ToString(), m.RollbackDeploymentId, m.Reason))],
            [.. events.Select(e => new ReleaseEventView(e.At, e.Type, e.Message))]);
    }

    /// <summary>Prints the release (JSON, or a table of its services and its outcome) and returns the exit code of its outcome.</summary>
    public static async Task<int> FinishAsync(IControlPlane control, Release release, bool json, CancellationToken cancellationToken)
    {
        var report = await BuildAsync(control, release, cancellationToken);
        if (json)
        {
            Console.Out.WriteLine(BackstayJson.Serialize(report, Reports.Json));
            return ExitCode(release);
        }

        var console = Consoles.Human;
        var table = new Table().AddColumns("Service", "From", "To", "Outcome", "Deployment", "Reason");
        foreach (var s in report.Services)
        {
            table.AddRow(Markup.Escape(s.Service), s.FromRevision is { } from ? $"r{from}" : "-", $"r{s.ToRevision}", Colour(s.Outcome),
                s.DeploymentId is null ? "-" : s.DeploymentId + (s.RollbackDeploymentId is { } back ? $" (rollback {back})" : ""),
                Markup.Escape(s.Reason ?? ""));
        }

        console.Write(table);
        console.MarkupLine($"{Colour(report.Outcome, bold: true)}: release {report.Release} ({report.Id})" + (report.Reason is null ? "" : " — " + Markup.Escape(report.Reason)));
        if (report.Outcome == "Paused")
        {
            console.MarkupLine(release.Phase == ReleasePhase.Paused
                ? $"Go on without {Markup.Escape(release.FailedService ?? "the failed service")} with [bold]backstay continue {release.Id}[/], or put every service back with [bold]backstay rollback {release.Id}[/]."
                : $"Continue with [bold]backstay continue {release.Id}[/], or roll every service back with [bold]backstay rollback {release.Id}[/].");
        }

        return ExitCode(release);
    }

    /// <summary>
    /// Waits until the release ends or waits for a person, printing its timeline as it grows; with an execution that
    /// runs an engine here (ECS without a controller), the engine runs meanwhile.
    /// </summary>
    /// <param name="leavingPause">The release waited for a person and was just answered: wait for it to move first (10 s at most).</param>
    public static async Task<Release> WaitAsync(IControlPlane control, Execution execution, string id, IAnsiConsole? console, CancellationToken cancellationToken, bool leavingPause = false)
    {
        return await execution.RunWhileAsync(async () =>
        {
            long seen = 0;
            var leaveBy = TimeProvider.System.GetUtcNow().AddSeconds(10);
            while (true)
            {
                var release = await control.GetReleaseAsync(id, cancellationToken) ?? throw new CliException($"Release {id} is no longer on record.");
                foreach (var e in await control.ListEventsAsync(id, seen, cancellationToken))
                {
                    seen = Math.Max(seen, e.Sequence);
                    console?.MarkupLine(Markup.Escape($"  {e.At.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {e.Type}: {e.Message}"));
                }

                var stillLeaving = leavingPause && release.WaitsForPerson && TimeProvider.System.GetUtcNow() < leaveBy;
                if (release.IsFinished || (release.WaitsForPerson && !stillLeaving))
                {
                    return release;
                }

                leavingPause &= release.WaitsForPerson;
                await Task.Delay(200, cancellationToken);
            }
        }, cancellationToken);
    }

    /// <summary>The release a command names by id; the error names what would be right.</summary>
    public static async Task<Release> RequireAsync(IControlPlane control, string id, CancellationToken cancellationToken) =>
        await control.GetReleaseAsync(id, cancellationToken)
        ?? throw new CliException($"Unknown release '{id}'; `backstay history --releases` lists releases.");

    /// <summary>The specs of a release's services, as recorded when it started (an engine here needs them on ECS).</summary>
    public static IReadOnlyList<ServiceSpec> Specs(Release release) =>
        [.. release.Members.Select(m => BackstayJson.Deserialize<ServiceSpec>(m.SpecJson, BackstayJson.Options)!)];

    /// <summary>`rollback`, `continue` or `stop` given a release id: asks, then waits (unless --no-wait) and reports.</summary>
    public static async Task<int> ActAsync(ParseResult result, ControlSession session, string id, bool noWait,
        Func<IControlPlane, Task<Release>> act, string doing, CancellationToken cancellationToken, bool rollingBack = false)
    {
        var control = session.Control;
        var json = GlobalOptions.Json(result);
        var before = await RequireAsync(control, id, cancellationToken);
        await using var execution = await Execution.ForReleaseAsync(result, session, Specs(before), cancellationToken);
        var release = await act(control);
        var console = json ? null : Consoles.Human;
        console?.MarkupLine($"{doing} release [bold]{Markup.Escape(release.Name)}[/] ({release.Id})");
        if (!noWait)
        {
            release = await WaitAsync(control, execution, release.Id, console, cancellationToken, leavingPause: before.WaitsForPerson);
        }

        var code = await FinishAsync(control, release, json, cancellationToken);

        // A rollback that was asked for and put every service back did what it was asked: exit 0, as `rollback SERVICE` does.
        return rollingBack && release.Phase == ReleasePhase.RolledBack ? ExitCodes.Succeeded : code;
    }

    private static string Colour(string outcome, bool bold = false)
    {
        var colour = outcome switch
        {
            // A service back on its previous revision is safe; a release rolled back is an incident.
            "Succeeded" or "RolledBack" when !bold => "green",
            "Succeeded" => "green",
            "RolledBack" or "Failed" or "RollbackFailed" => "red",
            "Paused" or "Stopped" or "Skipped" => "yellow",
            _ => "default",
        };
        return $"[{colour}{(bold ? " bold" : "")}]{outcome}[/]";
    }
}
