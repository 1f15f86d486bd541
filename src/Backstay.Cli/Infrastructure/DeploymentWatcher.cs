using Backstay.Core.Analysis;

namespace Backstay.Cli.Infrastructure;

/// <summary>Follows a deployment (and the rollback that undoes it) through the store, printing its timeline as it happens.</summary>
internal sealed class DeploymentWatcher(IControlPlane store, IAnsiConsole? console)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly Dictionary<string, long> _seen = new(StringComparer.Ordinal);
    private string? _lastProgress;

    /// <summary>Waits until the deployment finishes, or pauses when stopOnPause; returns it as it stands then.</summary>
    public async Task<Deployment> WaitAsync(string id, bool stopOnPause, CancellationToken cancellationToken)
    {
        while (true)
        {
            var deployment = await store.GetDeploymentAsync(id, cancellationToken)
                ?? throw new CliException($"Deployment {id} disappeared from the store.", ExitCodes.Error);
            Deployment? rollback = deployment.RolledBackBy is { } rb ? await store.GetDeploymentAsync(rb, cancellationToken) : null;
            await PrintAsync(rollback is null ? [deployment] : [deployment, rollback], cancellationToken);
            if (deployment.IsFinished && (rollback is null || rollback.IsFinished))
            {
                return deployment;
            }

            if (stopOnPause && deployment.State == DeploymentState.Paused)
            {
                return deployment;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    private async Task PrintAsync(IReadOnlyList<Deployment> deployments, CancellationToken cancellationToken)
    {
        var fresh = new List<DeploymentEvent>();
        foreach (var deployment in deployments)
        {
            var events = await store.ListEventsAsync(deployment.Id, _seen.GetValueOrDefault(deployment.Id), cancellationToken);
            if (events.Count > 0)
            {
                _seen[deployment.Id] = events[^1].Sequence;
                fresh.AddRange(events);
            }
        }

        foreach (var e in fresh.OrderBy(e => e.At).ThenBy(e => e.Sequence))
        {
            console?.MarkupLine($"[grey]{e.At.ToLocalTime():HH:mm:ss.fff}[/] [bold]{Markup.Escape(e.DeploymentId)}[/] {Colour(e.Type)}{Markup.Escape(e.Message)}[/]");
        }

        var active = deployments.LastOrDefault(d => d.IsActive && d.State != DeploymentState.RollingBack);
        if (console is not null && active is not null && DeploymentProgress.Parse(active.ProgressJson) is { } p)
        {
            var line = FormatProgress(active, p);
            if (line != _lastProgress)
            {
                _lastProgress = line;
                console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
            }
        }
    }

    public static string FormatProgress(Deployment d, DeploymentProgress p)
    {
        var split = d.StableRevision is { } s && d.StableRevision != d.TargetRevision
            ? $"r{d.TargetRevision} {d.TargetWeight}% / r{s} {100 - d.TargetWeight}%"
            : $"r{d.TargetRevision} {d.TargetWeight}%";
        var health = $"healthy r{d.TargetRevision} {p.TargetHealthy}/{p.TargetDesired}" + (d.StableRevision is { } st ? $", r{st} {p.StableHealthy}/{p.StableDesired}" : "");
        var errors = p.ErrorRate is { } rate ? $" | error rate {AnalysisEvaluator.Percent(rate)} of {p.Requests} req" : "";
        var latency = p.LatencyP99Ms is { } l ? $" | p99 {l:0} ms" : "";
        return $"  step {Math.Min(d.CurrentStep + 1, d.TotalSteps)}/{d.TotalSteps} | traffic {split} | {health}{errors}{latency}";
    }

    private static string Colour(string type) => type switch
    {
        "Failed" or "RollingBack" or "RollbackStarted" => "[red]",
        "Safe" or "Succeeded" or "RollbackSucceeded" or "RolledBack" or "AnalysisPassed" => "[green]",
        "Paused" => "[yellow]",
        _ => "[default]",
    };
}
