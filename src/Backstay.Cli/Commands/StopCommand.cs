namespace Backstay.Cli.Commands;

/// <summary>`backstay stop DEPLOYMENT [--rollback]`: stops a deployment at its next safe point, or rolls it back.</summary>
internal static class StopCommand
{
    public static Command Create()
    {
        var id = Completions.ActiveDeployments(new Argument<string>("deployment") { Description = "Id of the deployment (or release) in progress" });
        var rollback = new Option<bool>("--rollback") { Description = "Roll it back instead of leaving it where it is" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the request is recorded" };
        var command = new Command("stop", "Stop a deployment in progress") { id, rollback, noWait };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            var deploymentId = result.GetValue(id)!;
            if (Release.LooksLikeId(deploymentId))
            {
                return await ReleaseReports.ActAsync(result, session, deploymentId, result.GetValue(noWait),
                    control => result.GetValue(rollback)
                        ? control.RollbackReleaseAsync(deploymentId, Environment.UserName, cancellationToken)
                        : control.StopReleaseAsync(deploymentId, Environment.UserName, cancellationToken),
                    result.GetValue(rollback) ? "Rolling back" : "Stopping", cancellationToken, rollingBack: result.GetValue(rollback));
            }

            if (await store.GetDeploymentAsync(deploymentId, cancellationToken) is null)
            {
                throw new CliException(store is InProcessControlPlane && (await store.ListServicesAsync(cancellationToken)).Count == 0
                    ? EcsImport.NotRecorded($"deployment '{deploymentId}'", state.Path)
                    : $"Unknown deployment '{deploymentId}'; `backstay history SERVICE` lists a service's deployments.");
            }

            var running = (await store.GetDeploymentAsync(deploymentId, cancellationToken))!;
            await using var execution = await Execution.ForAsync(result, session, null, running.Service, cancellationToken);
            var deployment = await store.StopAsync(deploymentId, result.GetValue(rollback), Environment.UserName, cancellationToken);
            var console = json ? null : Consoles.Human;
            console?.MarkupLine(result.GetValue(rollback)
                ? $"Rolling back deployment [bold]{deployment.Id}[/]"
                : $"Stopping deployment [bold]{deployment.Id}[/] at its next safe point (a step in progress, such as a hook, finishes first)");
            if (result.GetValue(noWait))
            {
                return await DeployCommand.FinishAsync(store, deployment, json, cancellationToken);
            }

            var final = await execution.WaitAsync(deployment.Id, stopOnPause: false, console, cancellationToken);
            return await DeployCommand.FinishAsync(store, final, json, cancellationToken, execution.ApiCalls);
        });
        return command;
    }
}
