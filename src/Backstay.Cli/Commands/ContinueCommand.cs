namespace Backstay.Cli.Commands;

/// <summary>`backstay continue DEPLOYMENT [--full]`: answers a paused deployment.</summary>
internal static class ContinueCommand
{
    public static Command Create()
    {
        var id = Completions.ActiveDeployments(new Argument<string>("deployment") { Description = "Id of the paused deployment" }, pausedOnly: true);
        var full = new Option<bool>("--full") { Description = "Skip the remaining pauses, analyses and steps (fast-forward)" };
        var hook = new Option<string?>("--hook") { Description = "Id of the pause hook to answer (optional when only one waits)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the answer is recorded" };
        var command = new Command("continue", "Continue a paused deployment") { id, full, hook, noWait };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            if (await store.GetDeploymentAsync(result.GetValue(id)!, cancellationToken) is null)
            {
                throw new CliException(store is InProcessControlPlane && (await store.ListServicesAsync(cancellationToken)).Count == 0
                    ? EcsImport.NotRecorded($"deployment '{result.GetValue(id)}'", state.Path)
                    : $"Unknown deployment '{result.GetValue(id)}'; `backstay history SERVICE` lists a service's deployments.");
            }

            var paused = (await store.GetDeploymentAsync(result.GetValue(id)!, cancellationToken))!;
            await using var execution = await Execution.ForAsync(result, session, null, paused.Service, cancellationToken);
            var deployment = await store.ContinueAsync(result.GetValue(id)!, result.GetValue(hook), result.GetValue(full), Environment.UserName, cancellationToken);
            var console = json ? null : Consoles.Human;
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
}
