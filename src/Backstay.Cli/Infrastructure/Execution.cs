using Backstay.Cli.Runtime;
using Backstay.Platform.Ecs;
using Microsoft.Extensions.Logging;

namespace Backstay.Cli.Infrastructure;

/// <summary>
/// How a recorded deployment of a service makes progress: the controller (`backstay serve`) runs it, or, on a
/// platform that needs no controller (Amazon ECS), an engine in this process runs it until it ends or pauses, as
/// CI expects from `backstay deploy`. A later `continue` from another process picks it up the same way.
/// </summary>
internal sealed class Execution : IAsyncDisposable
{
    /// <summary>Who an engine in this process runs deployments as (its lease owner).</summary>
    private static readonly string Owner = $"cli-{Environment.MachineName}-{Environment.ProcessId}";

    private readonly IControlPlane _control;
    private readonly BackstayRuntime? _runtime;
    private readonly ILoggerFactory? _logs;

    private Execution(IControlPlane control, BackstayRuntime? runtime = null, ILoggerFactory? logs = null)
    {
        _control = control;
        _runtime = runtime;
        _logs = logs;
    }

    /// <summary>Chooses for a spec (deploy) or a recorded service (the other commands); fails when a controller is needed and none runs.</summary>
    public static async Task<Execution> ForAsync(ParseResult result, ControlSession session, ServiceSpec? spec, string? service, CancellationToken cancellationToken)
    {
        var control = session.Control;
        if (spec is null && service is not null && await control.GetServiceAsync(service, cancellationToken) is { } record && !PlatformKinds.NeedsController(record.Platform))
        {
            spec = BackstayJson.Deserialize<ServiceSpec>(record.SpecJson, BackstayJson.Options);
        }

        if (spec is not null && !PlatformKinds.NeedsController(spec.Platform.Kind) && session.Runtime is { } inProcess)
        {
            // Warnings (an AWS call retried, auto scaling left suspended by someone else) go to stderr; stdout stays the report.
            var logs = CliLogging.Create(LogLevel.Warning, toStandardError: true);
            Execution execution;
            try
            {
                execution = new Execution(control, await inProcess.StartEcsAsync(logs.CreateLogger("backstay.ecs"), Owner, cancellationToken), logs);
            }
            catch
            {
                logs.Dispose();
                throw;
            }

            try
            {
                await CatchUpAsync(execution._runtime!.Ecs, inProcess.Control, spec, deploying: service is null, GlobalOptions.StateDirectory(result), cancellationToken);
                return execution;
            }
            catch
            {
                await execution.DisposeAsync();
                throw;
            }
        }

        await RequireControllerAsync(control, GlobalOptions.StateDirectory(result), cancellationToken);
        return new Execution(control);
    }

    /// <summary>
    /// For a release: the controller runs it (local services), or an engine here does (ECS without a controller), with
    /// every service of the release told to the platform and its record brought up to what AWS shows.
    /// </summary>
    public static async Task<Execution> ForReleaseAsync(ParseResult result, ControlSession session, IReadOnlyList<ServiceSpec> specs, CancellationToken cancellationToken)
    {
        var execution = await ForAsync(result, session, specs[0], null, cancellationToken);
        if (execution._runtime is { } runtime && session.Runtime is { } inProcess)
        {
            try
            {
                foreach (var spec in specs.Skip(1))
                {
                    await CatchUpAsync(runtime.Ecs, inProcess.Control, spec, deploying: true, GlobalOptions.StateDirectory(result), cancellationToken);
                }
            }
            catch
            {
                await execution.DisposeAsync();
                throw;
            }
        }

        return execution;
    }

    /// <summary>Runs the work while the engine runs here (when this execution has one), then stops the engine and lets go of what it held.</summary>
    public async Task<T> RunWhileAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        if (_runtime is null)
        {
            return await work();
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loop = _runtime.Engine.RunAsync(stop.Token);
        try
        {
            var value = await work();

            // The store shows an outcome before runners have finished their last calls: let them, for 30 s at most.
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(30);
            while (_runtime.Engine.RunningServices.Count > 0 && TimeProvider.System.GetUtcNow() < deadline)
            {
                await Task.Delay(50, cancellationToken);
            }

            return value;
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
        }
    }

    /// <summary>Tells the ECS platform the service, and brings the store up to what AWS shows when it has not recorded the service or lags behind.</summary>
    private static async Task CatchUpAsync(EcsPlatform platform, InProcessControlPlane local, ServiceSpec spec, bool deploying, StateDirectory state, CancellationToken cancellationToken)
    {
        await platform.AttachAsync(spec, cancellationToken);
        if (deploying && await local.GetServiceAsync(spec.Service, cancellationToken) is null
            && await EcsImport.RunAsync(local, platform, spec, missingServiceIsAnError: false, cancellationToken) is { } imported)
        {
            // A fresh state directory (a CI job's checkout): go on from what AWS shows instead of numbering from 1 again.
            await Console.Error.WriteLineAsync(EcsImport.Describe(spec.Service, imported));
        }
        else if (await local.GetServiceAsync(spec.Service, cancellationToken) is not null)
        {
            await EcsImport.RequireCurrentAsync(local, platform, spec, state.Path, cancellationToken);
        }
    }

    /// <summary>
    /// Refuses `--no-wait` where this process would be the only one to run the deployment (ECS with no controller):
    /// it would stay Pending for good and hold the service against the next deploy.
    /// </summary>
    public static async Task RequireRunnerAfterExitAsync(IControlPlane control, string platformKind, string command, CancellationToken cancellationToken)
    {
        if (!PlatformKinds.NeedsController(platformKind) && control is InProcessControlPlane && !await control.ControllerRunningAsync(cancellationToken))
        {
            throw new CliException(
                $"{command} --no-wait: no `backstay serve` runs for this state directory, and on ECS without a controller the deployment runs inside this command, " +
                "so with --no-wait nothing would ever run it. Start `backstay serve` (same directory or --state, or give --server) and run the command again, " +
                "or leave out --no-wait: the command then runs the deployment on ECS until it ends or pauses.");
        }
    }

    /// <summary>The AWS API calls this process has sent so far (ECS), or null when a controller or the local platform runs the deployment.</summary>
    public ApiCallsReport? ApiCalls => _runtime?.Ecs is { } ecs ? ApiCallsReport.From(ecs.ApiCalls) : null;

    /// <summary>Waits until the deployment ends (or pauses when stopOnPause), running the engine here when this execution has a runtime.</summary>
    /// <param name="leavingPause">The deployment is paused and was just answered: wait for it to leave that pause first.</param>
    public async Task<Deployment> WaitAsync(string deploymentId, bool stopOnPause, IAnsiConsole? console, CancellationToken cancellationToken, bool leavingPause = false)
    {
        var watcher = new DeploymentWatcher(_control, console);
        if (_runtime is null)
        {
            await LeavePauseAsync(deploymentId, leavingPause, cancellationToken);
            return await watcher.WaitAsync(deploymentId, stopOnPause, cancellationToken);
        }

        var engine = _runtime.Engine;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loop = engine.RunAsync(stop.Token);
        try
        {
            await LeavePauseAsync(deploymentId, leavingPause, cancellationToken);
            var final = await watcher.WaitAsync(deploymentId, stopOnPause, cancellationToken);

            // The store shows the outcome before the runner has finished its last calls (resuming auto scaling, the
            // deployment tag on the service): let it finish them, for 30 s at most, before this process stops it.
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(30);
            while (final.IsFinished && engine.RunningServices.Contains(final.Service) && TimeProvider.System.GetUtcNow() < deadline)
            {
                await Task.Delay(50, cancellationToken);
            }

            return final;
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
            if (await _control.GetDeploymentAsync(deploymentId, CancellationToken.None) is { } deployment)
            {
                // Another process (a later `continue`) must not wait for this one's lease to expire.
                await _runtime.Store.ReleaseLeaseAsync(DeploymentEngine.LeaseKey(deployment.Service), Owner, CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// After `continue --full` on a deployment keeping its previous revision warm: waits until the engine (the
    /// controller's, or one run here) has retired it, two minutes at most; returns the deployment as last read.
    /// </summary>
    public async Task<Deployment> WaitWarmEndedAsync(string deploymentId, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loop = _runtime?.Engine.RunAsync(stop.Token);
        try
        {
            var deadline = TimeProvider.System.GetUtcNow().AddMinutes(2);
            while (true)
            {
                var deployment = await _control.GetDeploymentAsync(deploymentId, cancellationToken)
                    ?? throw new CliException($"Deployment {deploymentId} is no longer on record.");
                if (deployment.WarmRevision is null || TimeProvider.System.GetUtcNow() >= deadline)
                {
                    return deployment;
                }

                await Task.Delay(200, cancellationToken);
            }
        }
        finally
        {
            await stop.CancelAsync();
            if (loop is not null)
            {
                await loop;
                if (await _control.GetDeploymentAsync(deploymentId, CancellationToken.None) is { } deployment)
                {
                    await _runtime!.Store.ReleaseLeaseAsync(DeploymentEngine.LeaseKey(deployment.Service), Owner, CancellationToken.None);
                }
            }
        }
    }

    /// <summary>Lets the engine take the answer to a pause before watching for the next one (10 s at most).</summary>
    private async Task LeavePauseAsync(string deploymentId, bool leavingPause, CancellationToken cancellationToken)
    {
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(10);
        while (leavingPause && TimeProvider.System.GetUtcNow() < deadline
               && (await _control.GetDeploymentAsync(deploymentId, cancellationToken))?.State == DeploymentState.Paused)
        {
            await Task.Delay(100, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }

        _logs?.Dispose();
    }

    private static async Task RequireControllerAsync(IControlPlane control, StateDirectory state, CancellationToken cancellationToken)
    {
        if (!await control.ControllerRunningAsync(cancellationToken))
        {
            throw new CliException(
                $"No `backstay serve` is running for the state directory {state.Path}. The local platform runs inside it: start `backstay serve` in another terminal (same directory, or --state), then deploy again. `backstay demo` shows everything in one command.",
                ExitCodes.NoController);
        }
    }
}
