using Backstay.Cli.Runtime;

namespace Backstay.Cli.Commands;

/// <summary>`backstay history SERVICE`: every deployment and rollback of a service, newest first.</summary>
internal static class HistoryCommand
{
    public static Command Create()
    {
        var service = Completions.Services(new Argument<string?>("service") { Description = "Service (or a release id: that release and its timeline)", Arity = ArgumentArity.ZeroOrOne });
        var limit = new Option<int>("--limit") { Description = "How many deployments (or releases)", DefaultValueFactory = _ => 20 };
        var events = new Option<bool>("--events") { Description = "Include each deployment's timeline" };
        var releases = new Option<bool>("--releases") { Description = "List releases of several services (`backstay release`) instead" };
        var command = new Command("history", "List a service's deployments and rollbacks, or the releases") { service, limit, events, releases };
        command.SetAction(async (result, cancellationToken) =>
        {
            var name = result.GetValue(service);
            var json = GlobalOptions.Json(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            if (result.GetValue(releases) || (name is not null && Release.LooksLikeId(name)))
            {
                return await ReleasesAsync(store, name, result.GetValue(limit), json, cancellationToken);
            }

            if (name is null)
            {
                throw new CliException("history: name a service (`backstay status` lists them), a release id, or give --releases.");
            }

            await StatusCommand.RequireServiceAsync(store, name, cancellationToken);
            var list = await store.ListDeploymentsAsync(name, result.GetValue(limit), cancellationToken);
            var reports = new List<DeploymentReport>();
            foreach (var d in list)
            {
                reports.Add(await Reports.BuildAsync(store, d, result.GetValue(events), cancellationToken));
            }

            if (json)
            {
                Console.Out.WriteLine(BackstayJson.Serialize(reports, Reports.Json));
                return ExitCodes.Succeeded;
            }

            var table = new Table().AddColumns("Id", "Kind", "Revision", "From", "Strategy", "Outcome", "Started", "Took", "Reason");
            foreach (var r in reports)
            {
                var took = r.FinishedAt is { } f ? $"{(f - r.CreatedAt).TotalSeconds:0.0}s" : "";
                table.AddRow(r.Id, r.Kind, r.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture), r.StableRevision?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
                    r.Strategy, r.Outcome, r.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), took, Markup.Escape(r.Reason ?? ""));
            }

            Consoles.Human.Write(table);
            foreach (var r in reports.Where(r => r.Events.Count > 0))
            {
                Consoles.Human.MarkupLine($"[bold]{r.Id}[/]");
                foreach (var e in r.Events)
                {
                    var line = $"  {e.At.ToLocalTime().ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)} {e.Type}: {e.Message}";
                    Consoles.Human.MarkupLine(e.Type == PlatformEventRecorder.HaproxyRestarted ? $"[yellow]{Markup.Escape(line)}[/]" : Markup.Escape(line));
                    foreach (var check in Reports.ChecksOf(e))
                    {
                        // Every check's numbers, not only the one that decided: "why did it pass" has an answer too.
                        var verdict = check.DryRun ? $"dry run, {check.Verdict.ToString().ToLowerInvariant()}" : check.Verdict.ToString().ToLowerInvariant();
                        Consoles.Human.MarkupLine(Markup.Escape($"      {check.Metric} {verdict} ({check.Test}; {check.Threshold}): {check.Reason}"));
                    }
                }
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }

    /// <summary>One release with its services and timeline (an id), or the releases newest first.</summary>
    private static async Task<int> ReleasesAsync(IControlPlane store, string? id, int limit, bool json, CancellationToken cancellationToken)
    {
        if (id is not null && Release.LooksLikeId(id))
        {
            var release = await ReleaseReports.RequireAsync(store, id, cancellationToken);
            await ReleaseReports.FinishAsync(store, release, json, cancellationToken);
            if (!json)
            {
                foreach (var e in await store.ListEventsAsync(release.Id, 0, cancellationToken))
                {
                    Consoles.Human.MarkupLine(Markup.Escape($"  {e.At.ToLocalTime().ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)} {e.Type}: {e.Message}"));
                }
            }

            return ExitCodes.Succeeded;
        }

        var list = await store.ListReleasesAsync(limit, cancellationToken);
        var views = new List<ReleaseView>();
        foreach (var release in list)
        {
            views.Add(await ReleaseReports.BuildAsync(store, release, cancellationToken));
        }

        if (json)
        {
            Console.Out.WriteLine(BackstayJson.Serialize(new ReleasesReport(Reports.SchemaVersion, views), Reports.Json));
            return ExitCodes.Succeeded;
        }

        var table = new Table().AddColumns("Id", "Release", "Services", "Outcome", "Started", "Took", "Reason");
        foreach (var r in views)
        {
            var took = r.FinishedAt is { } f ? $"{(f - r.CreatedAt).TotalSeconds:0.0}s" : "";
            table.AddRow(r.Id, Markup.Escape(r.Release), Markup.Escape(string.Join(", ", r.Services.Select(s => $"{s.Service} r{s.ToRevision}"))), r.Outcome,
                r.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), took, Markup.Escape(r.Reason ?? ""));
        }

        Consoles.Human.Write(table);
        return ExitCodes.Succeeded;
    }
}
