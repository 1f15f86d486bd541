using Backstay.Core.Engine;
using Microsoft.Extensions.Hosting;

namespace Backstay.Server.Hosting;

/// <summary>
/// Runs the deployment engine for the life of the host. Cancellation is the only clean stop: the loop dying, or
/// returning on its own, is logged as critical and stops the host, so a controller never serves without an engine.
/// </summary>
internal sealed class EngineService(DeploymentEngine engine, IHostApplicationLifetime lifetime, ILogger<EngineService> logger) : BackgroundService
{
    private volatile bool _running;

    /// <summary>True from start until the loop ends.</summary>
    public bool Running => _running;

    /// <summary>Why the loop died, when it did.</summary>
    public Exception? Failure { get; private set; }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _running = true;
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await engine.RunAsync(stoppingToken);
            if (!stoppingToken.IsCancellationRequested)
            {
                Failure = new InvalidOperationException("The deployment engine returned without being asked to stop.");
                ServerLog.EngineReturned(logger);
                lifetime.StopApplication();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Failure = ex;
            ServerLog.EngineDied(logger, ex);
            lifetime.StopApplication();
        }
        finally
        {
            _running = false;
        }
    }
}
