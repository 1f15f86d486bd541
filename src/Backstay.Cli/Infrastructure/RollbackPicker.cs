using System.Globalization;

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
            var revisions = await store.ListRevisionsAsync(name, cancellationToken);
            var current = revisions.FirstOrDefault(r => r.Number == service.StableRevision);
            var candidates = Offer(revisions, history, service.StableRevision!.Value, last);
            if (!candidates.Any(c => c.Served))
            {
                console.MarkupLine(candidates.Count == 0
                    ? $"[yellow]{Markup.Escape(name)} has no earlier revision to roll back to; skipped.[/]"
                    : $"[yellow]{Markup.Escape(name)}: no revision other than the stable one ({service.StableRevision}) ever served " +
                      $"({Markup.Escape(string.Join(", ", candidates.Select(c => $"r{c.Revision.Number} {c.Mark}")))}), so there is nothing safe to roll back to; skipped. " +
                      $"`backstay rollback {Markup.Escape(name)} --to N` deploys one of them on purpose.[/]");
                continue;
            }

            if (current is not null)
            {
                console.Write(Differences(current, candidates));
            }

            // Spectre's selection starts on the first choice, so the safe default goes first: revisions that served,
            // the newest older than the stable one leading; revisions that never served come last, marked.
            var revision = await new SelectionPrompt<Candidate>()
                .Title($"Roll [bold]{Markup.Escape(name)}[/] (now revision {service.StableRevision}) back to:")
                .UseConverter(c => Describe(c, now))
                .AddChoices(candidates)
                .ShowAsync(console, cancellationToken);
            requests.Add((name, revision.Revision.Number));
        }

        if (requests.Count > 0 && !await new ConfirmationPrompt(
                "Roll back " + string.Join(", ", requests.Select(r => $"{r.Item1} to revision {r.Item2}")) + "?").ShowAsync(console, cancellationToken))
        {
            return [];
        }

        return requests;
    }

    /// <summary>An earlier revision offered in the dialog, with what its deployments showed.</summary>
    internal sealed record Candidate(Revision Revision, bool Served, string Mark);

    /// <summary>
    /// The last revisions other than the stable one, in the order the dialog offers them: revisions that served first
    /// (the newest older than the stable one leading, so it is the default), then those that never did.
    /// </summary>
    internal static List<Candidate> Offer(IReadOnlyList<Revision> revisions, IReadOnlyList<Deployment> history, int stable, int last) =>
        revisions
            .Where(r => !r.Removed && r.Number != stable)
            .OrderByDescending(r => r.Number)
            .Take(last)
            .Select(r => new Candidate(r, Served(r, history), LastOutcome(r, history)))
            .OrderBy(c => c.Served ? 0 : 1)
            .ThenBy(c => c.Revision.Number < stable ? 0 : 1)
            .ThenByDescending(c => c.Revision.Number)
            .ToList();

    /// <summary>Whether a deployment to the revision (a deploy, a rollback or a reset) ever succeeded.</summary>
    private static bool Served(Revision revision, IReadOnlyList<Deployment> history) =>
        history.Any(d => d.TargetRevision == revision.Number && d.State == DeploymentState.Succeeded);

    private static string LastOutcome(Revision revision, IReadOnlyList<Deployment> history) =>
        history.FirstOrDefault(d => d.TargetRevision == revision.Number) is { } last
            ? last.State switch
            {
                DeploymentState.Succeeded => "succeeded",
                DeploymentState.RolledBack => "rolled back",
                DeploymentState.Failed or DeploymentState.RollbackFailed => "failed",
                DeploymentState.Stopped => "stopped",
                _ => "in progress",
            }
            : "never deployed";

    private static string Describe(Candidate c, DateTimeOffset now)
    {
        var r = c.Revision;
        var commit = r.Provenance.Commit is { } sha ? sha[..Math.Min(8, sha.Length)] : "no commit";
        var message = string.IsNullOrWhiteSpace(r.Provenance.Message) ? "" : r.Provenance.Message.Trim() + "  ";
        var text = Markup.Escape($"r{r.Number}  {message}({c.Mark}, {commit}, {Age(now - r.CreatedAt)} ago)");
        return c.Served ? text : $"[red]{text}[/]";
    }

    /// <summary>What each offered revision changes against the one serving: image, digest and the names (never the values) of environment variables.</summary>
    private static Rows Differences(Revision current, List<Candidate> candidates)
    {
        var lines = new List<Markup> { new($"What differs from revision {current.Number} (serving now):") };
        foreach (var c in candidates)
        {
            lines.Add(new Markup(Markup.Escape($"  r{c.Revision.Number}: {Difference(current, c.Revision)}")));
        }

        return new Rows(lines);
    }

    internal static string Difference(Revision current, Revision other)
    {
        var parts = new List<string>();
        if (other.Image != current.Image)
        {
            parts.Add($"image {current.Image} -> {other.Image}");
        }

        if (other.Digest != current.Digest)
        {
            parts.Add($"digest {Short(current.Digest)} -> {Short(other.Digest)}");
        }

        var removed = current.Env.Keys.Where(k => !other.Env.ContainsKey(k)).Order(StringComparer.Ordinal).Select(k => "-" + k);
        var added = other.Env.Keys.Where(k => !current.Env.ContainsKey(k)).Order(StringComparer.Ordinal).Select(k => "+" + k);
        var changed = other.Env.Where(e => current.Env.TryGetValue(e.Key, out var value) && value != e.Value).Select(e => e.Key)
            .Order(StringComparer.Ordinal).Select(k => "~" + k);
        var env = removed.Concat(added).Concat(changed).ToList();
        if (env.Count > 0)
        {
            parts.Add("env " + string.Join(' ', env));
        }

        return parts.Count == 0 ? "same image and environment" : string.Join("; ", parts);
    }

    private static string Short(string? digest) => digest is null ? "none" : digest[..Math.Min(19, digest.Length)];

    private static string Age(TimeSpan age) =>
        age.TotalMinutes < 1 ? $"{age.TotalSeconds:0}s"
        : age.TotalHours < 1 ? $"{age.TotalMinutes:0}m"
        : age.TotalDays < 1 ? $"{age.TotalHours:0}h"
        : $"{age.TotalDays.ToString("0", CultureInfo.InvariantCulture)}d";
}
