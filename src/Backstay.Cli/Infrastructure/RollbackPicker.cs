using System.Globalization;
using Backstay.Core.Model;
using Backstay.Core.Control;
using Spectre.Console;

namespace Backstay.Cli.Infrastructure;

/// <summary>The interactive rollback dialog: choose services, then a revision of each among the last N.</summary>
internal static class RollbackPicker
{
    public static async Task<List<(string Service, int? Revision)>> PickAsync(IControlPlane store, int last, CancellationToken cancellationToken)
    {
        var console = Consoles.Human;
        if (!console.Profile.Capabilities.Interactive || Console.IsInputRedirected)
        {
            throw new CliException("rollback --interactive needs a terminal; name the services (and --to N) instead.");
        }

        var services = (await store.ListServicesAsync(cancellationToken)).Where(s => s.StableRevision is not null).ToList();
        if (services.Count == 0)
        {
            throw new CliException("No service has a stable revision to roll back from yet.");
        }

        var chosen = await new MultiSelectionPrompt<string>()
            .Title("Which services do you want to roll back? ([grey]space[/] to choose, [grey]enter[/] to accept)")
            .PageSize(15)
            .AddChoices(services.Select(s => s.Name))
            .ShowAsync(console, cancellationToken);
        var now = TimeProvider.System.GetUtcNow();
        var requests = new List<(string, int?)>();
        foreach (var name in chosen)
        {
            var service = services.First(s => s.Name == name);
            var history = await store.ListDeploymentsAsync(name, 200, cancellationToken);
            var candidates = (await store.ListRevisionsAsync(name, cancellationToken))
                .Where(r => !r.Removed && r.Number != service.StableRevision)
                .Take(last)
                .ToList();
            if (candidates.Count == 0)
            {
                console.MarkupLine($"[yellow]{Markup.Escape(name)} has no earlier revision to roll back to; skipped.[/]");
                continue;
            }

            var revision = await new SelectionPrompt<Revision>()
                .Title($"Roll [bold]{Markup.Escape(name)}[/] (now revision {service.StableRevision}) back to:")
                .UseConverter(r => Describe(r, history, now))
                .AddChoices(candidates)
                .ShowAsync(console, cancellationToken);
            requests.Add((name, revision.Number));
        }

        if (requests.Count > 0 && !await new ConfirmationPrompt(
                "Roll back " + string.Join(", ", requests.Select(r => $"{r.Item1} to revision {r.Item2}")) + "?").ShowAsync(console, cancellationToken))
        {
            return [];
        }

        return requests;
    }

    private static string Describe(Revision r, IReadOnlyList<Deployment> history, DateTimeOffset now)
    {
        var outcome = history.FirstOrDefault(d => d.TargetRevision == r.Number) is { } d ? Reports.Outcome(d) : "never deployed";
        var commit = r.Provenance.Commit is { } c ? c[..Math.Min(8, c.Length)] : "no commit";
        var image = Path.GetFileName(r.Image) + (r.Digest is { } digest ? "@" + digest[..Math.Min(19, digest.Length)] : "");
        return Markup.Escape($"r{r.Number}  {image}  {commit}  {r.Provenance.Message ?? ""}  {Age(now - r.CreatedAt)} ago  last: {outcome}");
    }

    private static string Age(TimeSpan age) =>
        age.TotalMinutes < 1 ? $"{age.TotalSeconds:0}s"
        : age.TotalHours < 1 ? $"{age.TotalMinutes:0}m"
        : age.TotalDays < 1 ? $"{age.TotalHours:0}h"
        : $"{age.TotalDays.ToString("0", CultureInfo.InvariantCulture)}d";
}
