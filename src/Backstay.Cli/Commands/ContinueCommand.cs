namespace Backstay.Cli.Commands;

/// <summary>`backstay continue DEPLOYMENT [--full]`: answers a paused deployment.</summary>
internal static class ContinueCommand
{
    public static Command Create()
    {
        var id = Completions.ActiveDeployments(new Argument<string>("deployment") { Description = "Id of the paused deployment or release (or a service: its deployment in progress, or the one keeping its previous revision warm)" }, pausedOnly: true);
        var full = new Option<bool>("--full") { Description = "Skip the remaining pauses, analyses and steps (fast-forward); after a blue/green deployment, end its warm window now" };
        var hook = new Option<string?>("--hook") { Description = "Id of the pause hook to answer (optional when only one waits)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the answer is recorded" };
        var command = new Command("continue", "Continue a paused deployment") { id, full, hook, noWait };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            if (Release.LooksLikeId(result.GetValue(id)!))
            {
                var releaseId = result.GetValue(id)!;
                if (result.GetValue(full) || result.GetValue(hook) is not null)
                {
                    throw new CliException($"continue {releaseId}: --full and --hook answer one deployment; give its id (`backstay status {releaseId}` lists them).");
                }

                // A release still going that waits for no one is followed (and, on ECS without a controller, carried on by an engine here after
                // the process that ran it died); one waiting for a person is answered.
                var found = await ReleaseReports.RequireAsync(store, releaseId, cancellationToken);
                return await ReleaseReports.ActAsync(result, session, releaseId, result.GetValue(noWait),
                    async control => found.IsActive && !found.WaitsForPerson
                        ? found
                        : await control.ContinueReleaseAsync(releaseId, Environment.UserName, cancellationToken),
                    found.IsActive && !found.WaitsForPerson ? "Carrying on" : "Continuing", cancellationToken);
            }

            var given = await ResolveAsync(store, result.GetValue(id)!, cancellationToken);
            if (given is null)
            {
                throw new CliException(store is InProcessControlPlane && (await store.ListServicesAsync(cancellationToken)).Count == 0
                    ? EcsImport.NotRecorded($"deployment '{result.GetValue(id)}'", state.Path)
                    : $"Unknown deployment '{result.GetValue(id)}'; `backstay history SERVICE` lists a service's deployments.");
            }

            var paused = given;
            await using var execution = await Execution.ForAsync(result, session, null, paused.Service, cancellationToken);
            var deployment = await store.ContinueAsync(paused.Id, result.GetValue(hook), result.GetValue(full), Environment.UserName, cancellationToken);
            var console = json ? null : Consoles.Human;
            if (deployment.WarmRevision is { } warm)
            {
                // A blue/green deployment that succeeded with its previous revision warm: the engine retires it now.
                console?.MarkupLine($"Ending the warm window of deployment [bold]{deployment.Id}[/]: revision {warm} is scaled to 0 now");
                var ended = result.GetValue(noWait) ? deployment : await execution.WaitWarmEndedAsync(deployment.Id, cancellationToken);
                if (ended.WarmEndedAt is not null)
                {
                    console?.MarkupLine($"Revision {warm} retired; revision {ended.TargetRevision} serves alone");
                }

                return await DeployCommand.FinishAsync(store, ended, json, cancellationToken, execution.ApiCalls);
            }

            console?.MarkupLine($"Continuing deployment [bold]{deployment.Id}[/]");
            if (result.GetValue(noWait))
            {
                return await DeployCommand.FinishAsync(store, deployment, json, cancellationToken);
            }

            var final = await execution.WaitAsync(deployment.Id, stopOnPause: true, console, cancellationToken, leavingPause: true);
            return await DeployCommand.FinishAsync(store, final, json, cancellationToken, execution.ApiCalls);
        });
        return command;
    }

    /// <summary>A deployment by its id, or, for a service's name, its deployment in progress or the one keeping its previous revision warm.</summary>
    private static async Task<Deployment?> ResolveAsync(IControlPlane store, string idOrService, CancellationToken cancellationToken)
    {
        if (await store.GetDeploymentAsync(idOrService, cancellationToken) is { } deployment)
        {
            return deployment;
        }

        if (await store.GetServiceAsync(idOrService, cancellationToken) is null)
        {
            return null;
        }

        var recent = await store.ListDeploymentsAsync(idOrService, 20, cancellationToken);
        return recent.FirstOrDefault(d => d.IsActive && d.State != DeploymentState.RollingBack) ?? recent.FirstOrDefault(d => d.WarmRevision is not null)
            ?? throw new CliException($"Service '{idOrService}' has no deployment in progress and no previous revision kept warm; there is nothing to continue.");
    }
}
