namespace Backstay.Cli.Infrastructure;

/// <summary>
/// Follows a deployment (and the rollback that undoes it) through the store, printing its timeline as it happens and,
/// on a terminal, a live line of its progress (<see cref="ProgressRenderer"/>).
/// </summary>
internal sealed class DeploymentWatcher(IControlPlane store, IAnsiConsole? console, TimeProvider? time = null)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly Dictionary<string, long> _seen = new(StringComparer.Ordinal);
    private readonly ProgressRenderer? _renderer = console is null ? null : new ProgressRenderer(console, time);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Waits until the deployment finishes, or pauses when stopOnPause; returns it as it stands then.</summary>
    public async Task<Deployment> WaitAsync(string id, bool stopOnPause, CancellationToken cancellationToken)
    {
        var followed = new List<string> { id };
        try
        {
            while (true)
            {
                // Events first, then the deployments: the live line drawn from these deployments is never older than
                // an event printed with it (the engine records figures before the events that state them).
                var fresh = await ReadEventsAsync(followed, cancellationToken);
                var deployment = await store.GetDeploymentAsync(id, cancellationToken)
                    ?? throw new CliException($"Deployment {id} disappeared from the store.", ExitCodes.Error);
                Deployment? rollback = deployment.RolledBackBy is { } rb ? await store.GetDeploymentAsync(rb, cancellationToken) : null;
                _renderer?.Show(fresh, rollback is null ? [deployment] : [deployment, rollback]);
                if (rollback is not null && !followed.Contains(rollback.Id))
                {
                    // A rollback appeared: read its events (and the deployments again after them) before anything ends.
                    followed.Add(rollback.Id);
                    continue;
                }

                if (deployment.IsFinished && (rollback is null || rollback.IsFinished))
                {
                    return deployment;
                }

                if (stopOnPause && deployment.State == DeploymentState.Paused)
                {
                    return deployment;
                }

                await Task.Delay(PollInterval, _time, cancellationToken);
            }
        }
        finally
        {
            _renderer?.Clear();
        }
    }

    private async Task<List<DeploymentEvent>> ReadEventsAsync(IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        var fresh = new List<DeploymentEvent>();
        foreach (var deploymentId in ids)
        {
            var events = await store.ListEventsAsync(deploymentId, _seen.GetValueOrDefault(deploymentId), cancellationToken);
            if (events.Count > 0)
            {
                _seen[deploymentId] = events[^1].Sequence;
                fresh.AddRange(events);
            }
        }

        return fresh;
    }
}
