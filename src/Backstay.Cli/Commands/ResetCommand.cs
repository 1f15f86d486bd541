namespace Backstay.Cli.Commands;

/// <summary>`backstay reset SERVICE [--adopt | --recreate]`: re-syncs the record with a platform someone changed by hand.</summary>
internal static class ResetCommand
{
    public static Command Create()
    {
        var service = Completions.Services(new Argument<string>("service") { Description = "Service to reset" });
        var adopt = new Option<bool>("--adopt") { Description = "Take what runs now as the new baseline (default)" };
        var recreate = new Option<bool>("--recreate") { Description = "Bring back the last good revision at its count with all traffic" };
        var command = new Command("reset", "Re-sync a service's record with its platform after a change by hand") { service, adopt, recreate };
        command.SetAction(async (result, cancellationToken) =>
        {
            if (result.GetValue(adopt) && result.GetValue(recreate))
            {
                throw new CliException("reset: give --adopt or --recreate, not both.");
            }

            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            await StatusCommand.RequireServiceAsync(store, result.GetValue(service)!, cancellationToken);
            await using var execution = await Execution.ForAsync(result, session, null, result.GetValue(service)!, cancellationToken);
            var mode = result.GetValue(recreate) ? ResetMode.Recreate : ResetMode.Adopt;
            var final = await RunAsync(store, execution, result.GetValue(service)!, mode, json ? null : Consoles.Human, cancellationToken);
            return await DeployCommand.FinishAsync(store, final, json, cancellationToken, execution.ApiCalls);
        });
        return command;
    }

    internal static async Task<Core.Model.Deployment> RunAsync(IControlPlane store, Execution execution, string service, ResetMode mode, IAnsiConsole? console, CancellationToken cancellationToken)
    {
        var reset = await store.ResetAsync(service, mode, Environment.UserName, cancellationToken);
        console?.MarkupLine($"Reset [bold]{reset.Id}[/] of {Markup.Escape(service)} ({mode.ToString().ToLowerInvariant()})");
        return await execution.WaitAsync(reset.Id, stopOnPause: false, console, cancellationToken);
    }
}
