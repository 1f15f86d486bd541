using System.CommandLine;
using Backstay.Cli.Infrastructure;
using Backstay.Core.Engine;
using Backstay.Platform.Local;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Backstay.Cli.Commands;

/// <summary>
/// `backstay serve`: runs the local platform and the engine in the foreground until Ctrl+C. Other commands
/// find it through the state directory; stopping it stops every instance and HAProxy.
/// </summary>
internal static partial class ServeCommand
{
    public static Command Create()
    {
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every engine decision" };
        var command = new Command("serve", "Run the local platform and the deployment engine until Ctrl+C") { verbose };
        command.SetAction(async (result, cancellationToken) =>
        {
            var state = GlobalOptions.StateDirectory(result);
            using var controllerLock = state.AcquireControllerLock();
            using var loggers = CliLogging.Create(result.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var logger = loggers.CreateLogger("backstay");
            await using var store = await state.OpenStoreAsync(cancellationToken);
            await using var platform = await LocalPlatform.StartAsync(new LocalPlatformOptions
            {
                StateDirectory = state.Path,
                BuiltinImages = Builtins.Images,
                OnEvent = e => PlatformEvent(logger, e.Service, e.Revision, e.InstanceId, e.Type, e.Message),
            }, TimeProvider.System, cancellationToken);
            var restored = await ServiceRestorer.RestoreAsync(store, platform, cancellationToken);
            Consoles.Human.MarkupLine($"Backstay is serving [bold]{Markup.Escape(state.Path)}[/]" +
                (restored.Count > 0 ? $"; restored {Markup.Escape(string.Join(", ", restored))}" : "") + ". Press Ctrl+C to stop.");
            var engine = new DeploymentEngine(store, platform, TimeProvider.System,
                new EngineOptions { Owner = $"serve-{Environment.MachineName}-{Environment.ProcessId}" }, logger);
            await engine.RunAsync(cancellationToken);
            Consoles.Human.MarkupLine("Stopping: instances and HAProxy are shut down; deployments in progress resume on the next `backstay serve`.");
            return ExitCodes.Succeeded;
        });
        return command;
    }

    [LoggerMessage(100, LogLevel.Warning, "{Service} r{Revision} {InstanceId}: {Type}: {Message}")]
    private static partial void PlatformEvent(ILogger logger, string service, int? revision, string? instanceId, string type, string message);
}
