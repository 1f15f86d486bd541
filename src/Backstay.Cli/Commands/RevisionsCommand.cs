using System.Globalization;

namespace Backstay.Cli.Commands;

/// <summary>`backstay revisions SERVICE`: the numbered revisions with image, digest and provenance.</summary>
internal static class RevisionsCommand
{
    public static Command Create()
    {
        var service = Completions.Services(new Argument<string>("service") { Description = "Service" });
        var command = new Command("revisions", "List a service's revisions") { service };
        command.SetAction(async (result, cancellationToken) =>
        {
            var name = result.GetValue(service)!;
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            var record = await StatusCommand.RequireServiceAsync(store, name, cancellationToken);
            var revisions = await store.ListRevisionsAsync(name, cancellationToken);
            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(revisions.Select(r => new RevisionReport(
                    Reports.SchemaVersion, r.Service, r.Number, r.Image, r.Digest, r.Env, r.Number == record.StableRevision, r.Removed, r.CreatedAt,
                    r.Provenance)).ToList(), Reports.Json));
                return ExitCodes.Succeeded;
            }

            var table = new Table().AddColumns("Rev", "", "Image", "Digest", "Commit", "Message", "Env", "Created");
            foreach (var r in revisions)
            {
                var mark = r.Number == record.StableRevision ? "[green]stable[/]" : r.Removed ? "[grey]removed[/]" : "";
                table.AddRow(r.Number.ToString(CultureInfo.InvariantCulture), mark, Markup.Escape(Path.GetFileName(r.Image)),
                    Markup.Escape(r.Digest is null ? "-" : r.Digest[..Math.Min(19, r.Digest.Length)]),
                    Markup.Escape(r.Provenance.Commit is null ? "-" : r.Provenance.Commit[..Math.Min(8, r.Provenance.Commit.Length)] + (r.Provenance.Dirty ? "+dirty" : "")),
                    Markup.Escape(r.Provenance.Message ?? ""),
                    Markup.Escape(string.Join(" ", r.Env.Select(e => $"{e.Key}={e.Value}"))),
                    r.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            }

            Consoles.Human.Write(table);
            return ExitCodes.Succeeded;
        });
        return command;
    }
}
