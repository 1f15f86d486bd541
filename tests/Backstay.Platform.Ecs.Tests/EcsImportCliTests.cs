using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// A deployment started by one `backstay` process (a CI job that then went away) followed by another process whose
/// state directory is empty: it reads the service, its revisions and the deployment back from the AWS tags.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsImportCliTests : IDisposable
{
    private const string PausingCanary = "canary: { steps: [ { setWeight: 20 }, { pause: {} }, { setWeight: 100 } ] }";

    private readonly EcsCli _cli = new();
    private readonly string _emptyState = Directory.CreateTempSubdirectory("backstay-import-").FullName;

    public EcsImportCliTests(MotoServer moto) => ArgumentNullException.ThrowIfNull(moto);

    public void Dispose()
    {
        _cli.Dispose();
        Directory.Delete(_emptyState, recursive: true);
    }

    [Fact]
    public async Task Import_PausedCanaryIntoAnEmptyStore_ShowsItThenContinueFromThereMovesAllWeight()
    {
        using var world = await MotoWorld.CreateAsync("imp");
        await using var agent = new MotoTaskSetAgent(world);
        var (stable, paused) = await StartPausedCanaryAsync(world);

        var service = (await world.DescribeServiceAsync())!;
        Tags.Find(service.Tags, Tags.Deployment).ShouldStartWith($"id={paused} kind=Deploy state=Paused strategy=canary stable=1 target=2 ");
        var sets = await world.Aws.Ecs.DescribeTaskSetsAsync(
            new() { Cluster = world.Cluster, Service = world.Service, Include = ["TAGS"] }, CancellationToken.None);
        sets.TaskSets.Single(t => t.ExternalId == "backstay:revision:2").Tags.ShouldNotBeNull().ShouldContain(t => t.Key == Tags.DeploymentId && t.Value == paused);

        var imported = await _cli.RunAsync("import", "--state", _emptyState, "--output", "json");

        imported.ExitCode.ShouldBe(0, imported.ToString());
        var json = imported.Json;
        json.GetProperty("stableRevision").GetInt32().ShouldBe(1);
        json.GetProperty("revisions").EnumerateArray().Select(r => r.GetProperty("number").GetInt32()).ShouldBe([1, 2]);
        json.GetProperty("revisions")[1].GetProperty("image").GetString().ShouldBe("public.ecr.aws/nginx/nginx:1.28");
        var deployment = json.GetProperty("deployment");
        deployment.GetProperty("id").GetString().ShouldBe(paused);
        deployment.GetProperty("state").GetString().ShouldBe("Paused");
        deployment.GetProperty("targetWeight").GetInt32().ShouldBe(20);

        var status = await _cli.RunAsync("status", world.Service, "--state", _emptyState, "--output", "json");
        status.ExitCode.ShouldBe(0, status.ToString());
        status.Stdout.ShouldContain(paused);

        var continued = await _cli.RunAsync("continue", paused, "--state", _emptyState, "--output", "json");

        continued.ExitCode.ShouldBe(0, continued.ToString());
        continued.Outcome.ShouldBe("Succeeded");
        continued.Id.ShouldBe(paused);
        var weights = await world.ListenerWeightsAsync();
        weights[stable].ShouldBe(0);
        weights.Single(w => w.Key != stable).Value.ShouldBe(100);
        var history = await _cli.RunAsync("history", world.Service, "--state", _emptyState, "--events", "--output", "json");
        history.Stdout.ShouldContain("Imported");
    }

    [Fact]
    public async Task Rollback_FromAnEmptyStoreAfterImport_PutsAllWeightBackOnTheStableTargetGroup()
    {
        using var world = await MotoWorld.CreateAsync("imprb");
        await using var agent = new MotoTaskSetAgent(world);
        var (stable, paused) = await StartPausedCanaryAsync(world);
        (await _cli.RunAsync("import", "--state", _emptyState)).ExitCode.ShouldBe(0);

        var rolledBack = await _cli.RunAsync("rollback", world.Service, "--state", _emptyState, "--output", "json");

        rolledBack.ExitCode.ShouldBe(0, rolledBack.ToString());
        rolledBack.Json.GetProperty("revision").GetInt32().ShouldBe(1);
        rolledBack.Json.GetProperty("rollbackOf").GetString().ShouldBe(paused);
        (await world.ListenerWeightsAsync())[stable].ShouldBe(100);
        (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:1");
    }

    [Fact]
    public async Task Stop_FromAnEmptyStoreAfterImport_StopsTheOtherJobsCanaryWhereItStands()
    {
        using var world = await MotoWorld.CreateAsync("impstop");
        await using var agent = new MotoTaskSetAgent(world);
        var (stable, paused) = await StartPausedCanaryAsync(world);
        (await _cli.RunAsync("import", "--state", _emptyState)).ExitCode.ShouldBe(0);

        var stopped = await _cli.RunAsync("stop", paused, "--state", _emptyState, "--output", "json");

        stopped.ExitCode.ShouldBe(6, stopped.ToString());
        stopped.Outcome.ShouldBe("Stopped");
        (await world.ListenerWeightsAsync())[stable].ShouldBe(80, "a stop leaves the traffic as it stands");
        Tags.Find((await world.DescribeServiceAsync())!.Tags, Tags.Deployment).ShouldNotBeNull().ShouldContain("state=Stopped");
    }

    [Fact]
    public async Task Deploy_FromAnEmptyStoreOverABackstayService_NumbersOnFromWhatAwsShowsAndDeploysOverTheStableRevision()
    {
        using var world = await MotoWorld.CreateAsync("impdep");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, "blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 0s }");
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json")).ExitCode.ShouldBe(0);

        var fresh = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.29", "--state", _emptyState, "--output", "json");

        fresh.ExitCode.ShouldBe(0, fresh.ToString());
        fresh.Stderr.ShouldContain("Recorded");
        fresh.Json.GetProperty("revision").GetInt32().ShouldBe(3);
        fresh.Json.GetProperty("stableRevision").GetInt32().ShouldBe(2);
        fresh.Json.GetProperty("strategy").GetString().ShouldBe("blueGreen");
        var service = (await world.DescribeServiceAsync())!;
        service.TaskSets.ShouldHaveSingleItem().ExternalId.ShouldBe("backstay:revision:3");
        Tags.Find(service.Tags, Tags.Deployment).ShouldNotBeNull().ShouldContain("state=Succeeded strategy=blueGreen stable=2 target=3 ",
            customMessage: "the process waits for the runner's last calls before it exits");
    }

    [Fact]
    public async Task Deploy_FromAnEmptyStoreWhileAnotherJobsCanaryWaits_ExitsConflictNamingItAndMovesNothing()
    {
        using var world = await MotoWorld.CreateAsync("impconf");
        await using var agent = new MotoTaskSetAgent(world);
        var (stable, paused) = await StartPausedCanaryAsync(world);

        var refused = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.29", "--state", _emptyState);

        refused.ExitCode.ShouldBe(7, refused.ToString());
        refused.Stderr.ShouldContain(paused);
        (await world.ListenerWeightsAsync())[stable].ShouldBe(80, "the other job's canary keeps its 20%");
    }

    [Fact]
    public async Task Import_WhenTheStoreAlreadyKnowsTheService_RefusesAndChangesNothing()
    {
        using var world = await MotoWorld.CreateAsync("impdup");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, "blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 0s }");
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27")).ExitCode.ShouldBe(0);

        var again = await _cli.RunAsync("import");

        again.ExitCode.ShouldBe(2, again.ToString());
        again.Stderr.ShouldContain($"Service '{world.Service}' is already on record");
    }

    /// <summary>Revision 1 serving, then a canary of revision 2 waiting at 20% for a continue; returns the stable target group and the canary's id.</summary>
    private async Task<(string Stable, string Paused)> StartPausedCanaryAsync(MotoWorld world)
    {
        _cli.WriteSpec(world, PausingCanary);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        var stable = (await world.ListenerWeightsAsync()).Single(w => w.Value == 100).Key;
        var paused = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");
        paused.ExitCode.ShouldBe(5, paused.ToString());
        (await world.ListenerWeightsAsync())[stable].ShouldBe(80);
        return (stable, paused.Id);
    }
}
