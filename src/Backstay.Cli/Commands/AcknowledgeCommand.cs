namespace Backstay.Cli.Commands;

/// <summary>
/// `backstay acknowledge SERVICE [--note TEXT]`: a person says they know the latest release went wrong. The release
/// stays what it was (rolled back, failed) but stops being shown in red as an open incident; nothing on the platform moves.
/// </summary>
internal static class AcknowledgeCommand
{
    public static Command Create()
    {
        var service = Completions.Services(new Argument<string>("service") { Description = "Service whose rolled-back or failed release to acknowledge" });
        var note = new Option<string?>("--note") { Description = "Why, or where it is followed up (a ticket, a channel); at most 500 characters" };
        var command = new Command("acknowledge", "Acknowledge a service's rolled-back or failed release so it is no longer shown as an open incident") { service, note };
        command.Aliases.Add("ack");
        command.SetAction(async (result, cancellationToken) =>
        {
            var text = result.GetValue(note);
            if (text is { Length: > 500 })
            {
                throw new CliException($"acknowledge: --note is {text.Length} characters; it holds at most 500 (say where the rest is, e.g. a ticket link).");
            }

            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var name = result.GetValue(service)!;
            await StatusCommand.RequireServiceAsync(session.Control, name, cancellationToken);
            var release = await session.Control.AcknowledgeAsync(name, text, Environment.UserName, cancellationToken);
            var report = ReleaseReport.From(release, TimeProvider.System.GetUtcNow());
            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(new AcknowledgeReport(Reports.SchemaVersion, name, report), Reports.Json));
            }
            else
            {
                Consoles.Human.MarkupLine($"Acknowledged [bold]{Markup.Escape(name)}[/]: {Markup.Escape(report.Summary)}");
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }
}
