using Backstay.Cli.Runtime;

namespace Backstay.Cli.Commands;

/// <summary>`backstay history SERVICE`: every deployment and rollback of a service, newest first.</summary>
internal static class HistoryCommand
{
    public static Command Create()
    {
        var service = Completions.Services(new Argument<string>("service") { Description = "Service" });
        var limit = new Option<int>("--limit") { Description = "How many deployments", DefaultValueFactory = _ => 20 };
        var events = new Option<bool>("--events") { Description = "Include each deployment's timeline" };
        var command = new Command("history", "List a service's deployments and rollbacks") { service, limit, events };
        command.SetAction(async (result, cancellationToken) =>
        {
            var name = result.GetValue(service)!;
            var json = GlobalOptions.Json(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            await StatusCommand.RequireServiceAsync(store, name, cancellationToken);
            var list = await store.ListDeploymentsAsync(name, result.GetValue(limit), cancellationToken);
            var reports = new List<DeploymentReport>();
            foreach (var d in list)
            {
                reports.Add(await Reports.BuildAsync(store, d, result.GetValue(events), cancellationToken));
            }

            if (json)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(reports, Reports.Json));
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
                }
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }
}
