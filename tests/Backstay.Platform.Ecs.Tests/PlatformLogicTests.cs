using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>The platform's decisions on answers moto cannot give, in the shapes real AWS answers have.</summary>
public sealed class PlatformLogicTests
{
    private const string Blue = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hello-blue/73e2d6bc24d8a067";
    private const string Green = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hello-green/2453ed029918f21f";

    [Theory]
    [InlineData(3, 3, 100)]
    [InlineData(2, 3, 66.66)]
    [InlineData(1, 3, 33.33)]
    [InlineData(1, 4, 25)]
    [InlineData(0, 4, 0)]
    [InlineData(7, 4999, 0.14)]
    public void Percent_GivesTheScaleThatRunsExactlyTheCount(int count, int desired, double percent)
    {
        TaskSetMath.Percent(count, desired).ShouldBe(percent);
        TaskSetMath.Count(TaskSetMath.Percent(count, desired), desired).ShouldBe(count);
    }

    [Fact]
    public void Percent_EveryCountUpToTheDesiredCount_RoundTrips()
    {
        foreach (var desired in new[] { 1, 2, 3, 7, 10, 33, 99, 1000, 5000 })
        {
            for (var count = 0; count <= desired; count += Math.Max(1, desired / 50))
            {
                TaskSetMath.Count(TaskSetMath.Percent(count, desired), desired).ShouldBe(count, $"{count} of {desired}");
            }
        }
    }

    [Fact]
    public void InstanceHealth_FromRecordedTargetHealth_MapsStatesAndDropsDrainingTargets()
    {
        var targets = ParseTargetHealth(RecordedShapes.DescribeTargetHealth);

        var instances = targets.Select(t => InstanceHealthMapping.FromTarget(t, 7)).OfType<InstanceStatus>().ToList();

        instances.Select(i => (i.Id, i.Health)).ShouldBe(
        [
            ("10.0.1.23:8080", InstanceHealth.Healthy),
            ("10.0.2.41:8080", InstanceHealth.Starting),
            ("10.0.1.77:8080", InstanceHealth.Unhealthy),
        ]);
        instances[2].LastError.ShouldBe("target unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [503])");
        instances.ShouldAllBe(i => i.Revision == 7);
    }

    [Fact]
    public void InstanceHealth_FromRecordedStoppedTasks_ReportsDeadInstancesWithReasonsAndRestarts()
    {
        var tasks = JsonSerializer.Deserialize<DescribeTasksResponse>(RecordedShapes.DescribeTasksStopped, AwsJson.CamelCase)!.Tasks;
        var set = new TaskSet
        {
            TaskDefinition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7",
            CreatedAt = DateTimeOffset.FromUnixTimeSeconds(1767225500),
        };

        var dead = InstanceHealthMapping.FromStoppedTasks(tasks, set, 7);

        dead.Count.ShouldBe(2);
        dead.ShouldAllBe(i => i.Health == InstanceHealth.Dead && i.Restarts == 2 && i.Revision == 7);
        dead[0].Id.ShouldBe("0b69d5c0d7f94a3c9d3f6b7e0c2f2a11");
        dead[0].LastError!.ShouldStartWith("CannotPullContainerError: pull image manifest has been retried 5 time(s)");
        dead[1].LastError.ShouldBe("Essential container in task exited; web exited with 137");
        dead[1].StartedAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1767225710));
    }

    [Fact]
    public void TaskDefinition_CopiedFromRecorded_ReplacesImageEnvironmentAndPortAndKeepsTheRest()
    {
        var existing = JsonSerializer.Deserialize<TaskDefinitionResponse>(RecordedShapes.DescribeTaskDefinition, AwsJson.CamelCase)!.TaskDefinition!;
        var revision = new Revision
        {
            Service = "hello",
            Number = 8,
            Image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello:v2",
            Digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            Env = new Dictionary<string, string> { ["GREETING"] = "new" },
            Port = 9090,
            Provenance = new Provenance { Commit = "9f8e7d6", Branch = "feature/<x>" },
        };

        var request = TaskDefinitionBuilder.FromExisting(existing, "hello", "web", revision, TaskDefinitionBuilder.TagsOf("hello", revision));
        var json = JsonDocument.Parse(JsonSerializer.Serialize(request, AwsJson.CamelCase)).RootElement;

        json.GetProperty("family").GetString().ShouldBe("hello");
        json.TryGetProperty("revision", out _).ShouldBeFalse();
        json.TryGetProperty("taskDefinitionArn", out _).ShouldBeFalse();
        json.TryGetProperty("requiresAttributes", out _).ShouldBeFalse();
        json.TryGetProperty("compatibilities", out _).ShouldBeFalse();
        json.TryGetProperty("registeredAt", out _).ShouldBeFalse();
        json.GetProperty("runtimePlatform").GetProperty("cpuArchitecture").GetString().ShouldBe("ARM64");
        json.GetProperty("volumes")[0].GetProperty("name").GetString().ShouldBe("tmp");
        json.GetProperty("executionRoleArn").GetString().ShouldBe("arn:aws:iam::123456789012:role/ecsTaskExecutionRole");
        var web = json.GetProperty("containerDefinitions")[0];
        web.GetProperty("image").GetString().ShouldBe("123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        web.GetProperty("environment").GetRawText().ShouldBe("""[{"name":"GREETING","value":"new"}]""");
        web.GetProperty("portMappings")[0].GetProperty("containerPort").GetInt32().ShouldBe(9090);
        web.GetProperty("portMappings")[0].GetProperty("hostPort").GetInt32().ShouldBe(9090);
        web.GetProperty("portMappings")[0].GetProperty("name").GetString().ShouldBe("http");
        web.GetProperty("secrets")[0].GetProperty("name").GetString().ShouldBe("DB_PASSWORD");
        web.GetProperty("logConfiguration").GetProperty("logDriver").GetString().ShouldBe("awslogs");
        json.GetProperty("containerDefinitions")[1].GetProperty("image").GetString().ShouldBe("public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29");
        request.Tags!.ShouldContain(new Tag("backstay:revision", "8"));
        request.Tags!.ShouldContain(new Tag("backstay:commit", "9f8e7d6"));
        request.Tags!.ShouldContain(new Tag("backstay:branch", "feature/-x-"));
    }

    [Fact]
    public void TaskDefinition_WithSeveralContainersAndNoneNamed_AsksForTheContainerKey()
    {
        var existing = JsonSerializer.Deserialize<TaskDefinitionResponse>(RecordedShapes.DescribeTaskDefinition, AwsJson.CamelCase)!.TaskDefinition!;

        var error = Should.Throw<PlatformException>(() => TaskDefinitionBuilder.PickContainer(existing, null, "other"));

        error.Message.ShouldContain("2 containers (web, envoy)");
        error.Message.ShouldContain("platform.ecs.container");
    }

    [Fact]
    public void TaskDefinition_FromSpecOnFargate_IsAwsvpcWithTaskSize()
    {
        var revision = new Revision { Service = "hello", Number = 1, Image = "nginx:1.27", Port = 8080 };

        var request = TaskDefinitionBuilder.FromSpec("hello", "web", revision, new EcsPlatformOptions { ExecutionRoleArn = "arn:aws:iam::1:role/exec" }, []);

        request.NetworkMode.ShouldBe("awsvpc");
        request.RequiresCompatibilities.ShouldBe(["FARGATE"]);
        request.Cpu.ShouldBe("256");
        request.Memory.ShouldBe("512");
        request.ExecutionRoleArn.ShouldBe("arn:aws:iam::1:role/exec");
        var container = request.ContainerDefinitions.ShouldHaveSingleItem();
        container.Image.ShouldBe("nginx:1.27");
        container.PortMappings!.Single().ShouldBe(new PortMapping { ContainerPort = 8080, HostPort = 8080, Protocol = "tcp" });
    }

    [Theory]
    [InlineData("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/hello:v2", "123456789012", "eu-west-1", "team/hello", "v2")]
    [InlineData("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/hello", "123456789012", "us-gov-west-1", "hello", null)]
    public void ImageReference_PrivateEcr_IsRecognised(string image, string account, string region, string repository, string? tag)
    {
        var reference = ImageReference.Parse(image);

        reference.Ecr.ShouldBe((account, region, repository));
        reference.Tag.ShouldBe(tag);
    }

    [Theory]
    [InlineData("nginx:1.27", "nginx", "1.27")]
    [InlineData("registry.example.com:5000/team/app:2", "registry.example.com:5000/team/app", "2")]
    [InlineData("registry.example.com:5000/team/app", "registry.example.com:5000/team/app", null)]
    [InlineData("public.ecr.aws/nginx/nginx:1.27", "public.ecr.aws/nginx/nginx", "1.27")]
    public void ImageReference_OtherRegistries_AreNotEcr(string image, string repository, string? tag)
    {
        var reference = ImageReference.Parse(image);

        reference.Ecr.ShouldBeNull();
        reference.Repository.ShouldBe(repository);
        reference.Tag.ShouldBe(tag);
    }

    [Fact]
    public void Metrics_FromRecordedGetMetricData_SumCountsAndTakeTheWorstPercentiles()
    {
        var result = QueryXml.Result(RecordedShapes.GetMetricData, "GetMetricData");
        var data = new Backstay.Platform.Ecs.Aws.CloudWatch.GetMetricDataResponse
        {
            MetricDataResults = result.Members("MetricDataResults").Select(r => new Backstay.Platform.Ecs.Aws.CloudWatch.MetricDataResult
            {
                Id = r.Text("Id")!,
                Timestamps = r.Members("Timestamps").Select(t => DateTimeOffset.Parse(t.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList(),
                Values = r.Members("Values").Select(v => double.Parse(v.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList(),
            }).ToList(),
        };

        var metrics = EcsPlatform.MetricsFrom(data, 3, TimeSpan.FromMinutes(2));

        metrics.Requests.ShouldBe(2000);
        metrics.Errors.ShouldBe(36);
        metrics.LatencyP50Ms.ShouldBeNull();
        metrics.LatencyP90Ms!.Value.ShouldBe(120, 0.001);
        metrics.LatencyP99Ms!.Value.ShouldBe(410, 0.001);
        metrics.FirstErrorAt.ShouldBe(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void Weights_OnRecordedListenerWithAuthentication_ReplaceOnlyTheForwardAndKeepStickiness()
    {
        var listener = ElbClient.ParseListener(QueryXml.Result(RecordedShapes.DescribeListenersWithAuthentication, "DescribeListeners").Members("Listeners").Single());
        ListenerWeights.Read(listener.DefaultActions).ShouldBe(new Dictionary<string, int> { [Blue] = 100 });

        var actions = ListenerWeights.WithWeights(listener.DefaultActions, [new TargetGroupTuple(Blue, 90), new TargetGroupTuple(Green, 10)]);
        var parameters = new List<KeyValuePair<string, string>>();
        ElbClient.WriteActions("DefaultActions", actions, parameters);

        ListenerWeights.Read(actions).ShouldBe(new Dictionary<string, int> { [Blue] = 90, [Green] = 10 });
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.1.Type", "authenticate-oidc"));
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.1.AuthenticateOidcConfig.ClientId", "backstay"));
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.key", "display"));
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.2.Type", "forward"));
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.2.Order", "2"));
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.2.ForwardConfig.TargetGroups.member.2.TargetGroupArn", Green));
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.2.ForwardConfig.TargetGroups.member.2.Weight", "10"));
        parameters.ShouldContain(new KeyValuePair<string, string>("DefaultActions.member.2.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds", "300"));
        parameters.ShouldNotContain(p => p.Key == "DefaultActions.member.2.TargetGroupArn");
        ListenerWeights.Matches(actions, [new TargetGroupTuple(Blue, 90), new TargetGroupTuple(Green, 10)]).ShouldBeTrue();
        ListenerWeights.Matches(actions, [new TargetGroupTuple(Blue, 100), new TargetGroupTuple(Green, 0)]).ShouldBeFalse();
    }

    [Fact]
    public void Weights_OnAFixedResponseListener_PutTheForwardInItsPlace()
    {
        var actions = ListenerWeights.WithWeights([new Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2.Action { Type = "fixed-response", Order = 1 }],
            [new TargetGroupTuple(Blue, 100), new TargetGroupTuple(Green, 0)]);

        actions.ShouldHaveSingleItem().Type.ShouldBe("forward");
        actions[0].Order.ShouldBe(1);
    }

    [Fact]
    public void Service_RecordedRollingDeployment_ParsesRolloutStateAndCircuitBreakerReason()
    {
        var service = JsonSerializer.Deserialize<DescribeServicesResponse>(RecordedShapes.DescribeServicesRollingFailed, AwsJson.CamelCase)!.Services.Single();

        service.DeploymentController!.Type.ShouldBe("ECS");
        service.DeploymentConfiguration!.DeploymentCircuitBreaker!.Rollback.ShouldBeTrue();
        var primary = service.Deployments!.Single(d => d.Status == "PRIMARY");
        primary.RolloutState.ShouldBe("FAILED");
        primary.FailedTasks.ShouldBe(10);
        primary.RolloutStateReason.ShouldBe("ECS deployment circuit breaker: tasks failed to start.");
        primary.CreatedAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1767225600));
    }

    [Fact]
    public void Dimensions_FromArns_AreWhatCloudWatchExpects()
    {
        EcsPlatform.TargetGroupDimension(Blue).ShouldBe("targetgroup/hello-blue/73e2d6bc24d8a067");
        EcsPlatform.LoadBalancerDimension("arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188").ShouldBe("app/web/50dc6c495c0c9188");
    }

    private static List<TargetHealthDescription> ParseTargetHealth(string xml) =>
        QueryXml.Result(xml, "DescribeTargetHealth").Members("TargetHealthDescriptions").Select(d => new TargetHealthDescription
        {
            Target = new TargetDescription(d.Child("Target").Text("Id")!, d.Child("Target").Int("Port")),
            TargetHealth = new TargetHealth(d.Child("TargetHealth").Text("State"), d.Child("TargetHealth").Text("Reason"), d.Child("TargetHealth").Text("Description")),
        }).ToList();

    [Theory]
    [InlineData(2, 10)]
    [InlineData(25, 10)]
    [InlineData(100, 40)]
    public async Task ObservationInterval_GrowsWithTheServicesSoRecordsTakeAQuarterOfTheElbDescribeLimit(int services, int seconds)
    {
        await using var platform = new EcsPlatform(new EcsPlatformOptions(), TimeProvider.System);
        for (var i = 0; i < services; i++)
        {
            await platform.AttachAsync(new ServiceSpec
            {
                Service = $"svc{i}",
                Platform = new PlatformSpec
                {
                    Ecs = new EcsPlatformSpec
                    {
                        Cluster = "prod",
                        Region = "eu-west-1",
                        LoadBalancer = new EcsLoadBalancerSpec { ProductionListener = "arn:listener", TargetGroups = ["arn:blue", "arn:green"] },
                    },
                },
                Task = new TaskSpec { Image = "nginx:1.27" },
            }, CancellationToken.None);
        }

        platform.ObservationInterval("ecs").ShouldBe(TimeSpan.FromSeconds(seconds));
    }
}
