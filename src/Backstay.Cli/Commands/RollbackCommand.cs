using System.CommandLine;
using Backstay.Cli.Infrastructure;
using Backstay.Core.Engine;
using Spectre.Console;

namespace Backstay.Cli.Commands;

/// <summary>`backstay rollback SERVICE [--to N]`: rolls the deployment in progress back, or the service to an earlier revision.</summary>
internal static class RollbackCommand
{
    public static Command Create()
    {
        var service = new Argument<string>("service") { Description = "Service to roll back" };
        var to = new Option<int?>("--to") { Description = "Revision to roll back to (default: the previous stable revision)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the rollback is recorded" };
        var command = new Command("rollback", "Roll a service back to an earlier revision") { service, to, noWait };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            await using var store = await state.OpenStoreAsync(cancellationToken);
            await StatusCommand.RequireServiceAsync(store, result.GetValue(service)!, cancellationToken);
            DeployCommand.RequireController(state);
            var deployments = new Deployments(store, TimeProvider.System);
            var followed = await deployments.RollbackAsync(result.GetValue(service)!, result.GetValue(to), Environment.UserName, cancellationToken);
            var console = json ? null : Consoles.Human;
            console?.MarkupLine($"Rolling back [bold]{Markup.Escape(followed.Service)}[/] (deployment {followed.Id})");
            if (result.GetValue(noWait))
            {
                return await DeployCommand.FinishAsync(store, followed, json, cancellationToken);
            }

            var final = await new DeploymentWatcher(store, console).WaitAsync(followed.Id, stopOnPause: false, cancellationToken);
            if (final.RolledBackBy is { } rollbackId && await store.GetDeploymentAsync(rollbackId, cancellationToken) is { } rollback)
            {
                final = rollback;
            }

            return await DeployCommand.FinishAsync(store, final, json, cancellationToken);
        });
        return command;
    }
}
