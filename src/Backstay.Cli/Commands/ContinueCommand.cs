using System.CommandLine;
using Backstay.Cli.Infrastructure;
using Spectre.Console;

namespace Backstay.Cli.Commands;

/// <summary>`backstay continue DEPLOYMENT [--full]`: answers a paused deployment.</summary>
internal static class ContinueCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("deployment") { Description = "Id of the paused deployment" };
        var full = new Option<bool>("--full") { Description = "Skip the remaining pauses, analyses and steps (fast-forward)" };
        var hook = new Option<string?>("--hook") { Description = "Id of the pause hook to answer (optional when only one waits)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the answer is recorded" };
        var command = new Command("continue", "Continue a paused deployment") { id, full, hook, noWait };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            await using var store = await ControlPlanes.OpenAsync(result, cancellationToken);
            if (await store.GetDeploymentAsync(result.GetValue(id)!, cancellationToken) is null)
            {
                throw new CliException($"Unknown deployment '{result.GetValue(id)}'; `backstay history SERVICE` lists a service's deployments.");
            }

            await DeployCommand.RequireControllerAsync(store, state, cancellationToken);
            var deployment = await store.ContinueAsync(result.GetValue(id)!, result.GetValue(hook), result.GetValue(full), Environment.UserName, cancellationToken);
            var console = json ? null : Consoles.Human;
            console?.MarkupLine($"Continuing deployment [bold]{deployment.Id}[/]");
            if (result.GetValue(noWait))
            {
                return await DeployCommand.FinishAsync(store, deployment, json, cancellationToken);
            }

            // Let the controller take the answer before waiting for the next pause.
            var watcher = new DeploymentWatcher(store, console);
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(10);
            while ((await store.GetDeploymentAsync(deployment.Id, cancellationToken))?.State == Core.Model.DeploymentState.Paused
                   && TimeProvider.System.GetUtcNow() < deadline)
            {
                await Task.Delay(100, cancellationToken);
            }

            var final = await watcher.WaitAsync(deployment.Id, stopOnPause: true, cancellationToken);
            return await DeployCommand.FinishAsync(store, final, json, cancellationToken);
        });
        return command;
    }
}
