using Microsoft.Extensions.Logging;

namespace Backstay.Platform.Ecs;

internal static partial class EcsLog
{
    [LoggerMessage(1, LogLevel.Information, "Created ECS service {Service} in cluster {Cluster} with the EXTERNAL deployment controller")]
    public static partial void ServiceCreated(ILogger logger, string service, string cluster);

    [LoggerMessage(2, LogLevel.Information, "Registered task definition {TaskDefinition} for revision {Revision} of {Service}")]
    public static partial void TaskDefinitionRegistered(ILogger logger, string taskDefinition, int revision, string service);

    [LoggerMessage(3, LogLevel.Information, "Task set {TaskSet} of revision {Revision} of {Service}: {Action}")]
    public static partial void TaskSetChanged(ILogger logger, string taskSet, int revision, string service, string action);

    [LoggerMessage(4, LogLevel.Information, "{Listener} listener of {Service}: {Weights}")]
    public static partial void WeightsSet(ILogger logger, string listener, string service, string weights);

    [LoggerMessage(5, LogLevel.Information, "Auto scaling of {Service} {Action}")]
    public static partial void AutoScaling(ILogger logger, string service, string action);

    [LoggerMessage(6, LogLevel.Warning, "Image {Image} is not in a private ECR registry; it stays a tag and is not pinned to a digest, so a rollback runs whatever the tag points to then")]
    public static partial void ImageNotPinned(ILogger logger, string image);

    [LoggerMessage(7, LogLevel.Warning, "Auto scaling of {Service} was already suspended by someone else; Backstay leaves it as it is")]
    public static partial void AutoScalingSuspendedByOthers(ILogger logger, string service);

    [LoggerMessage(8, LogLevel.Information, "Created ECS service {Service} in cluster {Cluster} with the ECS deployment controller")]
    public static partial void NativeServiceCreated(ILogger logger, string service, string cluster);

    [LoggerMessage(9, LogLevel.Information, "ECS deployment {Deployment} rolls revision {Revision} of {Service} out")]
    public static partial void RolloutStarted(ILogger logger, string deployment, int revision, string service);

    [LoggerMessage(10, LogLevel.Information, "Adopted ECS service {Service}: task definition {TaskDefinition}, which it ran before Backstay, is revision 1")]
    public static partial void Adopted(ILogger logger, string service, string taskDefinition);

    [LoggerMessage(11, LogLevel.Information, "Deployment {Deployment} of {Service} names revision {Revision}, which has no registered task definition; the backstay:deployment tag is left as it was")]
    public static partial void MarkLeftAsItWas(ILogger logger, string deployment, string service, int revision);
}
