using System.Text.Json;

namespace Backstay.Platform.Ecs;

public sealed partial class EcsPlatform
{
    /// <summary>ECS tasks' output is where the task definition sends it (`backstay logs` only reads local instances).</summary>
    public async Task<string> LogsHintAsync(ServiceSpec spec, int revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!_services.TryGetValue(spec.Service, out var context))
        {
            return EcsLogsHint.Describe(null, null, spec.Platform.Ecs?.Service ?? spec.Service, spec.Platform.Ecs?.Cluster ?? "", "");
        }

        var definition = context.TaskDefinitions.GetValueOrDefault(revision);
        if (definition is null)
        {
            try
            {
                (definition, _) = await FindTaskDefinitionAsync(context, revision, cancellationToken);
            }
            catch (PlatformException)
            {
                // A hint must not turn the failure it explains into another one: fall back to the generic pointer.
            }
        }

        return EcsLogsHint.Describe(definition, context.Ecs.Container, context.ServiceName, context.Cluster, context.Aws.Region);
    }
}

/// <summary>Where the output of a revision's tasks went, read from its task definition's log configuration.</summary>
internal static class EcsLogsHint
{
    public static string Describe(TaskDefinition? definition, string? containerName, string service, string cluster, string region)
    {
        var stopped = $"ECS keeps why tasks stopped: `aws ecs list-tasks --cluster {cluster} --service-name {service} --desired-status STOPPED`, then `aws ecs describe-tasks`";
        if (definition is null)
        {
            return $"see the tasks' logs where the task definition of service '{service}' sends them; {stopped}";
        }

        ContainerDefinition container;
        try
        {
            container = TaskDefinitionBuilder.PickContainer(definition, containerName, service);
        }
        catch (PlatformException)
        {
            return $"see the tasks' logs where task definition {Name(definition)} sends them; {stopped}";
        }

        var (driver, options) = LogConfiguration(container);
        if (driver == "awslogs" && options.GetValueOrDefault("awslogs-group") is { Length: > 0 } group)
        {
            var streams = options.GetValueOrDefault("awslogs-stream-prefix") is { Length: > 0 } prefix ? $", streams {prefix}/{container.Name}/<task id>" : "";
            return $"see CloudWatch log group {group} in {options.GetValueOrDefault("awslogs-region") ?? region}{streams} (container '{container.Name}' of {Name(definition)})";
        }

        var where = driver is null
            ? $"container '{container.Name}' of task definition {Name(definition)} has no logConfiguration, so its output is not kept; add one (awslogs) to see it next time"
            : $"container '{container.Name}' of task definition {Name(definition)} sends its output to the {driver} log driver";
        return $"{where}; {stopped}";
    }

    private static string Name(TaskDefinition definition) =>
        definition.Family is { } family && definition.Revision > 0 ? $"{family}:{definition.Revision}" : definition.TaskDefinitionArn ?? definition.Family ?? "?";

    private static (string? Driver, Dictionary<string, string> Options) LogConfiguration(ContainerDefinition container)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        if (container.ExtensionData?.GetValueOrDefault("logConfiguration") is not { ValueKind: JsonValueKind.Object } configuration)
        {
            return (null, options);
        }

        if (configuration.TryGetProperty("options", out var values) && values.ValueKind == JsonValueKind.Object)
        {
            foreach (var option in values.EnumerateObject().Where(o => o.Value.ValueKind == JsonValueKind.String))
            {
                options[option.Name] = option.Value.GetString()!;
            }
        }

        var driver = configuration.TryGetProperty("logDriver", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        return (driver, options);
    }
}
