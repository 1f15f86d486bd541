using Backstay.Cli.Runtime;
using Backstay.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Backstay.Cli.Commands;

/// <summary>
/// `backstay serve`: runs the local platform and the engine in the foreground until Ctrl+C. Other commands
/// find it through the state directory; stopping it stops every instance and HAProxy.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every engine decision" };
        var listen = new Option<string>("--listen") { Description = "Address of the REST API and dashboard (loopback unless --allow-remote)", DefaultValueFactory = _ => "127.0.0.1:7480" };
        var allowRemote = new Option<bool>("--allow-remote") { Description = "Allow --listen on a non-loopback address (put TLS in front)" };
        var postgres = new Option<string?>("--postgres") { Description = "Keep state in PostgreSQL (Npgsql connection string; default $BACKSTAY_POSTGRES, else SQLite in the state directory)" };
        var leaseTtl = new Option<string>("--lease-ttl")
        {
            Description = "How long a replica's hold on a service lasts unless renewed; another replica takes its deployments over after it (e.g. 10s)",
            DefaultValueFactory = _ => "10s",
        };
        var command = new Command("serve", "Run the controller: deployment engine (local platform and Amazon ECS), REST API and dashboard, until Ctrl+C") { verbose, listen, allowRemote, postgres, leaseTtl };
        command.SetAction(async (result, cancellationToken) =>
        {
            var state = GlobalOptions.StateDirectory(result);
            if (!Durations.TryParse(result.GetValue(leaseTtl)!, out var ttl) || ttl < TimeSpan.FromSeconds(1) || ttl > TimeSpan.FromMinutes(10))
            {
                throw new CliException($"--lease-ttl '{result.GetValue(leaseTtl)}': give a duration from 1s to 10m, e.g. --lease-ttl 10s.");
            }

            using var controllerLock = state.AcquireControllerLock();

            // A server.json left by a controller that was killed must not send clients to its dead address.
            File.Delete(Path.Combine(state.Path, "server.json"));
            using var loggers = CliLogging.Create(result.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var connection = result.GetValue(postgres) ?? Environment.GetEnvironmentVariable("BACKSTAY_POSTGRES");
            await using var runtime = await BackstayRuntime.StartAsync(new BackstayRuntimeOptions
            {
                Store = connection is null ? new RuntimeStore.Sqlite(state.Path) : new RuntimeStore.Postgres(connection),
                // The local platform's processes and HAProxy live on this machine, in this state directory: a store shared by
                // replicas (PostgreSQL) would let another replica pick its services up on a machine where they do not run.
                LocalPlatform = connection is null,
                RecordPlatformEvents = true,
                // ECS services are deployed from here too, with the AWS credentials and region of this process.
                Ecs = true,
                Region = result.GetValue(GlobalOptions.Region),
                EngineOwner = $"serve-{Environment.MachineName}-{Environment.ProcessId}",
                LeaseTtl = ttl,
                Log = loggers.CreateLogger("backstay"),
                EcsLog = loggers.CreateLogger("Backstay.Ecs"),
            }, cancellationToken);
            WebApplication app;
            try
            {
                app = ControllerHost.Build(new ControllerHostOptions
                {
                    Listen = result.GetValue(listen)!,
                    AllowRemote = result.GetValue(allowRemote),
                    StateDirectory = state.Path,
                }, runtime.Control, runtime.Engine, new ForwardingLoggerProvider(loggers));
            }
            catch (ArgumentException ex)
            {
                throw new CliException($"--listen: {ex.Message}");
            }

            await using (app)
            {
                try
                {
                    await app.StartAsync(cancellationToken);
                }
                catch (IOException ex)
                {
                    throw new CliException($"--listen {result.GetValue(listen)}: {ex.Message}; choose another address, e.g. --listen 127.0.0.1:0 for any free port.", ExitCodes.Conflict);
                }

                Consoles.Human.MarkupLine($"Backstay is serving [bold]{Markup.Escape(state.Path)}[/] at [bold]{ControllerHost.LocalUrl(app)}[/] (dashboard and API; token in {Markup.Escape(Path.Combine(state.Path, "token"))})" +
                    (runtime.Restored.Count > 0 ? $"; restored {Markup.Escape(string.Join(", ", runtime.Restored))}" : "") + ". Press Ctrl+C to stop.");
                await app.WaitForShutdownAsync(cancellationToken);
                await app.StopAsync(CancellationToken.None);
                if (ControllerHost.EngineFailure(app) is { } failure)
                {
                    throw new CliException($"The deployment engine died: {failure.Message}", ExitCodes.Error);
                }
            }

            Consoles.Human.MarkupLine("Stopping: instances and HAProxy are shut down; deployments in progress resume on the next `backstay serve`.");
            return ExitCodes.Succeeded;
        });
        return command;
    }
}
