namespace Backstay.Server;

internal static partial class ServerLog
{
    [LoggerMessage(1, LogLevel.Information, "Backstay controller listening on {Url} (API under /api, dashboard at /)")]
    public static partial void Listening(ILogger logger, string url);

    [LoggerMessage(2, LogLevel.Information, "Created the {Role} token in {Path} (mode 0600)")]
    public static partial void TokenCreated(ILogger logger, string role, string path);

    [LoggerMessage(3, LogLevel.Warning, "The token file {Path} was readable by others ({Mode}); its mode is now 0600")]
    public static partial void TokenModeTightened(ILogger logger, string path, string mode);

    [LoggerMessage(4, LogLevel.Critical, "The deployment engine died; stopping the controller")]
    public static partial void EngineDied(ILogger logger, Exception exception);

    [LoggerMessage(5, LogLevel.Critical, "The deployment engine returned without being asked to stop; stopping the controller")]
    public static partial void EngineReturned(ILogger logger);

    [LoggerMessage(6, LogLevel.Error, "{Method} {Path} failed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(7, LogLevel.Warning, "Could not write or remove {Path}; a CLI on this state directory will not find the controller by itself")]
    public static partial void ServerFileFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(8, LogLevel.Information, "{Method} {Path} refused ({Status}) for {Remote}: {Reason}")]
    public static partial void Refused(ILogger logger, string method, string path, int status, string remote, string reason);

    [LoggerMessage(9, LogLevel.Information, "{Action} by {RequestedBy}: deployment {DeploymentId} of {Service}")]
    public static partial void WriteAccepted(ILogger logger, string action, string requestedBy, string deploymentId, string service);

    [LoggerMessage(10, LogLevel.Warning, "Metrics of deployment {DeploymentId} could not be computed")]
    public static partial void MetricsFailed(ILogger logger, Exception exception, string deploymentId);

    [LoggerMessage(11, LogLevel.Information, "Controller stopped; removed {Path}")]
    public static partial void Stopped(ILogger logger, string path);

    [LoggerMessage(12, LogLevel.Information, "Token {Name} {Change} ({Role}) by {RequestedBy}")]
    public static partial void TokenChanged(ILogger logger, string change, string name, string role, string requestedBy);
}
