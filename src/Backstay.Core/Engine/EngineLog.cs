using Microsoft.Extensions.Logging;

namespace Backstay.Core.Engine;

internal static partial class EngineLog
{
    [LoggerMessage(1, LogLevel.Information, "Deployment {DeploymentId} of {Service}: {Message}")]
    public static partial void DeploymentEvent(ILogger logger, string deploymentId, string service, string message);

    [LoggerMessage(2, LogLevel.Error, "Deployment {DeploymentId} stopped running on an unexpected error; it stays on record and is resumed on the next pass")]
    public static partial void RunnerCrashed(ILogger logger, Exception exception, string deploymentId);

    [LoggerMessage(3, LogLevel.Error, "Engine pass failed; trying again")]
    public static partial void PassFailed(ILogger logger, Exception exception);

    [LoggerMessage(4, LogLevel.Critical, "The deployment engine loop died")]
    public static partial void LoopDied(ILogger logger, Exception exception);

    [LoggerMessage(5, LogLevel.Information, "Resuming deployment {DeploymentId} of {Service} at step {Step}")]
    public static partial void Resuming(ILogger logger, string deploymentId, string service, int step);

    [LoggerMessage(6, LogLevel.Warning, "Lost the lease on {Service} to another owner; stopped running its deployment here")]
    public static partial void LeaseLost(ILogger logger, string service);

    [LoggerMessage(9, LogLevel.Warning, "Deployment {DeploymentId} of {Service}: a write was fenced off and not made ({Reason}); the deployment is left to the lease's new holder")]
    public static partial void Fenced(ILogger logger, string deploymentId, string service, string reason);

    [LoggerMessage(10, LogLevel.Information, "Took the lease on {Service} (generation {Generation}) to run deployment {DeploymentId}")]
    public static partial void LeaseTaken(ILogger logger, string service, long generation, string deploymentId);

    [LoggerMessage(7, LogLevel.Warning, "Deployment {DeploymentId} of {Service}: could not record where it stands on the platform; a process with an empty store cannot import it until the next step records it")]
    public static partial void MarkFailed(ILogger logger, Exception exception, string deploymentId, string service);

    [LoggerMessage(11, LogLevel.Warning, "Deployment {DeploymentId} of {Service}: could not record a chart point; the chart has a gap there")]
    public static partial void SeriesFailed(ILogger logger, Exception exception, string deploymentId, string service);

    [LoggerMessage(8, LogLevel.Critical, "The loop recording what the platform shows died; drift is no longer observed in the background")]
    public static partial void ObserverDied(ILogger logger, Exception exception);

    [LoggerMessage(12, LogLevel.Error, "Release {ReleaseId}: a pass failed; trying again")]
    public static partial void ReleasePassFailed(ILogger logger, Exception exception, string releaseId);
}
