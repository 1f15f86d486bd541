using System.Text.Json;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecs;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>Where a failure message sends a person for an ECS revision's output, read from task definitions shaped like DescribeTaskDefinition's.</summary>
public sealed class EcsLogsHintTests
{
    [Fact]
    public void Describe_AwslogsContainer_NamesTheGroupRegionAndStreams()
    {
        var hint = EcsLogsHint.Describe(Definition("""{ "logDriver": "awslogs", "options": { "awslogs-group": "/ecs/hello", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "ecs" } }"""),
            "web", "hello", "prod", "us-east-1");

        hint.ShouldBe("see CloudWatch log group /ecs/hello in eu-west-1, streams ecs/web/<task id> (container 'web' of hello:7)");
    }

    [Fact]
    public void Describe_ContainerWithoutLogConfiguration_SaysSoAndPointsAtStoppedTasksNotBackstayLogs()
    {
        var hint = EcsLogsHint.Describe(Definition(null), "web", "hello", "prod", "us-east-1");

        hint.ShouldStartWith("container 'web' of task definition hello:7 has no logConfiguration");
        hint.ShouldContain("aws ecs list-tasks --cluster prod --service-name hello --desired-status STOPPED");
        hint.ShouldNotContain("backstay logs");
    }

    [Fact]
    public void Describe_OtherLogDriver_NamesIt()
    {
        var hint = EcsLogsHint.Describe(Definition("""{ "logDriver": "splunk", "options": { "splunk-url": "https://splunk" } }"""), "web", "hello", "prod", "us-east-1");

        hint.ShouldStartWith("container 'web' of task definition hello:7 sends its output to the splunk log driver");
    }

    private static TaskDefinition Definition(string? logConfiguration)
    {
        var container = logConfiguration is null ? "" : $", \"logConfiguration\": {logConfiguration}";
        return JsonSerializer.Deserialize<TaskDefinition>(
            $$"""{ "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/hello:7", "family": "hello", "revision": 7, "containerDefinitions": [ { "name": "web", "image": "nginx"{{container}} } ] }""",
            AwsJson.CamelCase)!;
    }
}
