using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>Each AWS operation Backstay calls, through the platform or its clients, against moto.</summary>
[Collection(MotoCollection.Name)]
public sealed class EcsAwsOperationsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Scale_CreatesUpdatesRaisesAndDeletesTheRevisionsTaskSet()
    {
        using var world = await MotoWorld.CreateAsync("scale");
        await using var platform = Platform();
        var spec = world.Spec(instances: 2);
        var revision = Revision(world, 1);
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);

        await platform.ScaleAsync(spec, revision, 2, CancellationToken.None).WaitAsync(Timeout);
        var created = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        await platform.ScaleAsync(spec, revision, 1, CancellationToken.None).WaitAsync(Timeout);
        var halved = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        await platform.ScaleAsync(spec, revision, 3, CancellationToken.None).WaitAsync(Timeout);
        var raised = (await world.DescribeServiceAsync())!;
        var listed = await platform.ListAsync(world.Service, CancellationToken.None).WaitAsync(Timeout);
        await platform.ScaleAsync(spec, revision, 0, CancellationToken.None).WaitAsync(Timeout);
        var deleted = (await world.DescribeServiceAsync())!;

        created.Scale!.Value.ShouldBe(100);
        created.Status.ShouldBe("PRIMARY");
        created.LaunchType.ShouldBe("EC2");
        created.LoadBalancers!.Single().ShouldBe(new LoadBalancer { TargetGroupArn = world.Blue, ContainerName = "web", ContainerPort = 8080 });
        halved.Scale!.Value.ShouldBe(50);
        raised.DesiredCount.ShouldBe(3);
        raised.TaskSets.ShouldHaveSingleItem().Scale!.Value.ShouldBe(100);
        listed.ShouldHaveSingleItem().DesiredCount.ShouldBe(3);
        listed[0].Revision.ShouldBe(1);
        listed[0].Instances.ShouldBeEmpty("moto registers no task in a target group");
        deleted.TaskSets.ShouldBeEmpty();
    }

    [Fact]
    public async Task AnotherProcess_WithOnlyTheSpec_ReadsRevisionsAndWeightsBackFromAws()
    {
        using var world = await MotoWorld.CreateAsync("fresh");
        var spec = world.Spec(instances: 2);
        await using (var first = Platform())
        {
            await first.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);
            await first.ScaleAsync(spec, Revision(world, 1), 2, CancellationToken.None).WaitAsync(Timeout);
            await first.ScaleAsync(spec, Revision(world, 2), 2, CancellationToken.None).WaitAsync(Timeout);
            await first.SetWeightsAsync(world.Service, Listener.Production, new Dictionary<int, int> { [1] = 90, [2] = 10 }, CancellationToken.None).WaitAsync(Timeout);
        }

        await using var second = Platform();
        await Should.ThrowAsync<PlatformException>(second.ListAsync(world.Service, CancellationToken.None).WaitAsync(Timeout));
        await second.AttachAsync(spec, CancellationToken.None);

        var sets = await second.ListAsync(world.Service, CancellationToken.None).WaitAsync(Timeout);
        var weights = await second.GetWeightsAsync(world.Service, Listener.Production, CancellationToken.None).WaitAsync(Timeout);

        sets.Select(s => (s.Revision, s.DesiredCount)).OrderBy(s => s.Revision).ShouldBe([(1, 2), (2, 2)]);
        weights.ShouldBe(new Dictionary<int, int> { [1] = 90, [2] = 10 });
    }

    [Fact]
    public async Task TaskSets_DescribeWithTags_AndTheirTasks_ListAndDescribe()
    {
        using var world = await MotoWorld.CreateAsync("tasks");
        await using var platform = Platform();
        var spec = world.Spec(instances: 2);
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);
        await platform.ScaleAsync(spec, Revision(world, 1), 2, CancellationToken.None).WaitAsync(Timeout);

        var sets = await world.Aws.Ecs.DescribeTaskSetsAsync(new DescribeTaskSetsRequest { Cluster = world.Cluster, Service = world.Service, Include = ["TAGS"] },
            CancellationToken.None).WaitAsync(Timeout);
        var listed = await world.Aws.Ecs.ListTasksAsync(new ListTasksRequest { Cluster = world.Cluster }, CancellationToken.None).WaitAsync(Timeout);
        var tasks = await world.Aws.Ecs.DescribeTasksAsync(new DescribeTasksRequest { Cluster = world.Cluster, Tasks = listed.TaskArns }, CancellationToken.None).WaitAsync(Timeout);

        var set = sets.TaskSets.ShouldHaveSingleItem();
        Tags.RevisionOf(set).ShouldBe(1);
        set.Tags!.ShouldContain(new Tag("backstay:revision", "1"));
        listed.TaskArns.ShouldNotBeEmpty("moto starts tasks of a task set when it is created (not when it is scaled)");
        tasks.Tasks.ShouldAllBe(t => t.TaskDefinitionArn == set.TaskDefinition);
    }

    [Fact]
    public async Task Weights_OnAListenerRule_GoThroughModifyRuleAndReadBack()
    {
        using var world = await MotoWorld.CreateAsync("rule");
        var rule = await world.Aws.Elb.Raw.CallAsync("CreateRule",
        [
            new("ListenerArn", world.ProductionListener), new("Priority", "10"),
            new("Conditions.member.1.Field", "path-pattern"), new("Conditions.member.1.Values.member.1", "/api/*"),
            new("Actions.member.1.Type", "forward"), new("Actions.member.1.TargetGroupArn", world.Blue),
        ], CancellationToken.None).WaitAsync(Timeout);
        var ruleArn = rule.Members("Rules").Single().Text("RuleArn")!;
        var spec = world.Spec();
        spec = spec with { Platform = new PlatformSpec { Ecs = spec.Platform.Ecs! with { LoadBalancer = spec.Platform.Ecs.LoadBalancer! with { ProductionListener = ruleArn } } } };
        await using var platform = Platform();
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);
        await platform.ScaleAsync(spec, Revision(world, 1), 2, CancellationToken.None).WaitAsync(Timeout);
        await platform.ScaleAsync(spec, Revision(world, 2), 2, CancellationToken.None).WaitAsync(Timeout);

        await platform.SetWeightsAsync(world.Service, Listener.Production, new Dictionary<int, int> { [1] = 70, [2] = 30 }, CancellationToken.None).WaitAsync(Timeout);

        var rules = await world.Aws.Elb.DescribeRulesAsync([ruleArn], CancellationToken.None).WaitAsync(Timeout);
        ListenerWeights.Read(rules.Single().Actions).ShouldBe(new Dictionary<string, int> { [world.Blue] = 70, [world.Green] = 30 });
        (await platform.GetWeightsAsync(world.Service, Listener.Production, CancellationToken.None).WaitAsync(Timeout))
            .ShouldBe(new Dictionary<int, int> { [1] = 70, [2] = 30 });
        (await world.ListenerWeightsAsync()).ShouldBe(new Dictionary<string, int> { [world.Blue] = 100 }, "the listener's default action is not the rule's");
    }

    [Fact]
    public async Task Weights_ForARevisionWithoutTaskSet_AreRefusedAsDrift()
    {
        using var world = await MotoWorld.CreateAsync("noset");
        await using var platform = Platform();
        var spec = world.Spec();
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);

        var error = await Should.ThrowAsync<EcsDriftException>(platform.SetWeightsAsync(world.Service, Listener.Production,
            new Dictionary<int, int> { [5] = 100 }, CancellationToken.None).WaitAsync(Timeout));

        error.Message.ShouldContain("Revision 5");
        error.Message.ShouldContain($"backstay reset {world.Service}");
    }

    [Fact]
    public async Task Metrics_ReadTheRevisionsTargetGroupFromCloudWatch()
    {
        using var world = await MotoWorld.CreateAsync("metrics");
        await using var platform = Platform();
        var spec = world.Spec();
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);
        await platform.ScaleAsync(spec, Revision(world, 1), 2, CancellationToken.None).WaitAsync(Timeout);
        var at = DateTimeOffset.UtcNow.AddSeconds(-30);
        await world.PutTargetGroupMetricsAsync(world.Blue, at, requests: 500, errors: 12);
        await world.PutTargetGroupMetricsAsync(world.Green, at, requests: 999, errors: 999);

        var metrics = await platform.GetMetricsAsync(world.Service, 1, TimeSpan.FromMinutes(5), since: null, CancellationToken.None).WaitAsync(Timeout);
        var unknown = await platform.GetMetricsAsync(world.Service, 9, TimeSpan.FromMinutes(5), since: null, CancellationToken.None).WaitAsync(Timeout);

        metrics.Requests.ShouldBe(500);
        metrics.Errors.ShouldBe(12);
        metrics.ErrorRate.ShouldBe(0.024);
        metrics.LatencyP99Ms.ShouldBeNull();
        unknown.Requests.ShouldBe(0);
    }

    [Fact]
    public async Task Alarms_AreReadWithTheirStates_AndAMissingOneIsAnError()
    {
        using var world = await MotoWorld.CreateAsync("alarms");
        await using var platform = Platform();
        await world.SetAlarmStateAsync("ALARM");

        var alarms = await platform.GetAlarmsAsync(world.Spec(), CancellationToken.None).WaitAsync(Timeout);
        var missing = world.Spec() with { Platform = new PlatformSpec { Ecs = world.Spec().Platform.Ecs! with { Alarms = [world.AlarmName, "no-such-alarm"] } } };
        var error = await Should.ThrowAsync<PlatformException>(platform.GetAlarmsAsync(missing, CancellationToken.None).WaitAsync(Timeout));

        var alarm = alarms.ShouldHaveSingleItem();
        alarm.Name.ShouldBe(world.AlarmName);
        alarm.InAlarm.ShouldBeTrue();
        alarm.Reason.ShouldBe("set by the test to ALARM");
        error.Message.ShouldContain("'no-such-alarm'");
        (await platform.GetAlarmsAsync(world.Spec(alarms: false), CancellationToken.None).WaitAsync(Timeout)).ShouldBeEmpty();
    }

    [Fact]
    public async Task ImageResolver_PinsAnEcrTagToItsDigest_AndLeavesOtherRegistriesAlone()
    {
        using var world = await MotoWorld.CreateAsync("ecr");
        var repository = world.Name;
        await world.Aws.Ecr.Raw.CallRawAsync("CreateRepository", JsonSerializer.Serialize(new { repositoryName = repository }), CancellationToken.None).WaitAsync(Timeout);
        var manifest = JsonSerializer.Serialize(new
        {
            schemaVersion = 2,
            mediaType = "application/vnd.docker.distribution.manifest.v2+json",
            config = new { mediaType = "application/vnd.docker.container.image.v1+json", size = 7023, digest = "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7" },
            layers = Array.Empty<object>(),
        });
        var put = await world.Aws.Ecr.Raw.CallRawAsync("PutImage", JsonSerializer.Serialize(new { repositoryName = repository, imageManifest = manifest, imageTag = "v1" }),
            CancellationToken.None).WaitAsync(Timeout);
        var digest = JsonDocument.Parse(put).RootElement.GetProperty("image").GetProperty("imageId").GetProperty("imageDigest").GetString();
        using var factory = new AwsClientFactory(new AwsEnvironment(), new StaticCredentialSource(new AwsCredentials("testing", "testing")), TimeProvider.System,
            new AwsClientOptions(), NullLogger.Instance);
        var resolver = new EcsImageResolver(factory);
        var image = $"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}:v1";

        var resolved = await resolver.ResolveAsync(world.Spec(), image, CancellationToken.None).WaitAsync(Timeout);
        var other = await resolver.ResolveAsync(world.Spec(), "public.ecr.aws/nginx/nginx:1.27", CancellationToken.None).WaitAsync(Timeout);
        var error = await Should.ThrowAsync<PlatformException>(resolver.ResolveAsync(world.Spec(), image.Replace(":v1", ":v9", StringComparison.Ordinal), CancellationToken.None)
            .WaitAsync(Timeout));

        digest.ShouldStartWith("sha256:");
        resolved.ShouldBe(new ResolvedImage(image, digest));
        TaskDefinitionBuilder.ImageOf(new Revision { Service = "s", Image = resolved.Image, Digest = resolved.Digest })
            .ShouldBe($"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}@{digest}");
        other.ShouldBe(new ResolvedImage("public.ecr.aws/nginx/nginx:1.27", null));
        error.Message.ShouldContain("'v9'");
        error.Message.ShouldContain("push it first");
        resolver.ApiCalls.ShouldBe(new Dictionary<string, int> { ["ecr:DescribeImages"] = 2 }, "one per private ECR image resolved; none for a public one");
    }

    [Fact]
    public async Task EnsureService_UnknownCluster_SaysWhichClusterAndRegion()
    {
        using var world = await MotoWorld.CreateAsync("nocluster");
        await using var platform = Platform();
        var spec = world.Spec();
        spec = spec with { Platform = new PlatformSpec { Ecs = spec.Platform.Ecs! with { Cluster = "does-not-exist" } } };

        var error = await Should.ThrowAsync<PlatformException>(platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout));

        error.Message.ShouldStartWith("ECS cluster 'does-not-exist' was not found in us-east-1");
    }

    [Fact]
    public async Task EnsureService_OnTheEcsDeploymentController_IsRefusedWithWhatToDo()
    {
        using var world = await MotoWorld.CreateAsync("rolling");
        await world.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest { Cluster = world.Cluster, ServiceName = world.Service, DesiredCount = 1 }, CancellationToken.None)
            .WaitAsync(Timeout);
        await using var platform = Platform();

        var error = await Should.ThrowAsync<PlatformException>(platform.EnsureServiceAsync(world.Spec(), CancellationToken.None).WaitAsync(Timeout));

        error.Message.ShouldContain("uses the ECS deployment controller");
        error.Message.ShouldContain("EXTERNAL");
    }

    [Fact]
    public async Task EnsureService_Existing_IsAdoptedNotRecreated()
    {
        using var world = await MotoWorld.CreateAsync("adopt");
        await world.Aws.Ecs.CreateServiceAsync(new CreateServiceRequest
        {
            Cluster = world.Cluster,
            ServiceName = world.Service,
            DesiredCount = 4,
            DeploymentController = new DeploymentController { Type = "EXTERNAL" },
        }, CancellationToken.None).WaitAsync(Timeout);
        await using var platform = Platform();

        await platform.EnsureServiceAsync(world.Spec(instances: 2), CancellationToken.None).WaitAsync(Timeout);

        (await world.DescribeServiceAsync())!.DesiredCount.ShouldBe(4);
        platform.ApiCalls.Keys.ShouldNotContain("ecs:CreateService");
    }

    [Fact]
    public async Task DeletedService_IsDriftForEnsure_AndCreatedAgainByRecreate()
    {
        using var world = await MotoWorld.CreateAsync("recreate");
        await using var platform = Platform();
        var spec = world.Spec();
        await platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);
        await world.DeleteServiceOutOfBandAsync();

        var drift = await Should.ThrowAsync<EcsDriftException>(platform.EnsureServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout));
        var listing = await Should.ThrowAsync<EcsDriftException>(platform.ListAsync(world.Service, CancellationToken.None).WaitAsync(Timeout));
        await platform.RecreateServiceAsync(spec, CancellationToken.None).WaitAsync(Timeout);

        drift.Message.ShouldContain("is INACTIVE: it was deleted or changed outside Backstay");
        drift.Message.ShouldContain($"backstay reset {world.Service} --recreate");
        listing.Message.ShouldBe(drift.Message);
        var service = (await world.DescribeServiceAsync())!;
        service.Status.ShouldBe("ACTIVE");
        service.DeploymentController!.Type.ShouldBe("EXTERNAL");
    }

    [Fact]
    public async Task DefaultCredentialChain_ReadsTheEnvironment()
    {
        var credentials = await new DefaultChainCredentialSource().GetAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);

        credentials.AccessKeyId.ShouldBe("testing");
        credentials.SecretAccessKey.ShouldBe("testing");
    }

    private static EcsPlatform Platform() => new(new EcsPlatformOptions { LaunchType = "EC2" }, TimeProvider.System);

    private static Revision Revision(MotoWorld world, int number) => new()
    {
        Service = world.Service,
        Number = number,
        Image = $"public.ecr.aws/nginx/nginx:1.{number}",
        Port = 8080,
        Env = new Dictionary<string, string> { ["N"] = number.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        Provenance = new Provenance { Commit = "c0ffee" },
    };
}
