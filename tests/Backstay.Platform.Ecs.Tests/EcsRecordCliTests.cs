using System.Globalization;
using Backstay.Core.Ports;
using Backstay.Platform.Ecs.Aws.Ecs;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// What Backstay leaves on AWS stays true, and a state directory never acts on a record older than AWS's: the
/// deployment tag names only registered task definitions, `import` gets past a tag it cannot resolve, a state directory
/// whose deployment another job finished refuses to act, and an empty state directory says how to read a service back.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsRecordCliTests : IDisposable
{
    private const string BlueGreen = "blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 0s }";
    private const string PausingCanary = "canary: { steps: [ { setWeight: 20 }, { pause: {} }, { setWeight: 100 } ] }";

    private readonly EcsCli _cli = new();
    private readonly string _emptyState = Directory.CreateTempSubdirectory("backstay-record-").FullName;

    public EcsRecordCliTests(MotoServer moto) => ArgumentNullException.ThrowIfNull(moto);

    public void Dispose()
    {
        _cli.Dispose();
        Directory.Delete(_emptyState, recursive: true);
    }

    [Fact]
    public async Task Deploy_StoppedForDriftBeforeItsTaskDefinitionExisted_LeavesNoTagNamingItAndImportStillWorks()
    {
        using var world = await MotoWorld.CreateAsync("recdrift");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, BlueGreen);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        await world.MoveWeightsByHandAsync(blue: 50, green: 50);

        var drifted = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");

        drifted.ExitCode.ShouldNotBe(0, drifted.ToString());
        drifted.Json.GetProperty("revision").GetInt32().ShouldBe(2);
        var registered = await RegisteredRevisionsAsync(world);
        registered.ShouldNotContain(2, "the deployment stopped before revision 2's task definition was registered");
        var mark = DeploymentMark.Decode(Tags.Find((await world.DescribeServiceAsync())!.Tags, Tags.Deployment).ShouldNotBeNull());
        registered.ShouldContain(mark.TargetRevision, $"the tag names revision {mark.TargetRevision}, which must be registered: {mark.Encode()}");
        if (mark.StableRevision is { } stable)
        {
            registered.ShouldContain(stable);
        }

        var imported = await _cli.RunAsync("import", "--state", _emptyState, "--output", "json");

        imported.ExitCode.ShouldBe(0, imported.ToString());
        imported.Json.GetProperty("stableRevision").GetInt32().ShouldBe(1);
    }

    [Fact]
    public async Task Import_TagNamingARevisionThatIsNotRegistered_SaysSoAndImportsTheRest()
    {
        using var world = await MotoWorld.CreateAsync("recbad");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, BlueGreen);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        var service = (await world.DescribeServiceAsync())!;
        var unresolvable = DeploymentMark.Decode(Tags.Find(service.Tags, Tags.Deployment)!) with
        {
            Id = "d-NOTREGIST",
            State = Core.Model.DeploymentState.Stopped,
            StableRevision = 1,
            TargetRevision = 4,
        };
        await world.Aws.Ecs.TagResourceAsync(new TagResourceRequest { ResourceArn = service.ServiceArn!, Tags = [new Tag(Tags.Deployment, unresolvable.Encode())] },
            CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

        var imported = await _cli.RunAsync("import", "--state", _emptyState, "--output", "json");
        var human = await _cli.RunAsync("history", world.Service, "--state", _emptyState, "--output", "json");

        imported.ExitCode.ShouldBe(0, imported.ToString());
        imported.Json.GetProperty("revisions").EnumerateArray().Select(r => r.GetProperty("number").GetInt32()).ShouldBe([1]);
        imported.Json.GetProperty("stableRevision").GetInt32().ShouldBe(1);
        imported.Json.GetProperty("deployment").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        imported.Stderr.ShouldContain("d-NOTREGIST");
        imported.Stderr.ShouldContain("revision 4");
        human.ExitCode.ShouldBe(0, human.ToString());
    }

    [Fact]
    public async Task Rollback_FromAStateDirectoryWhoseDeploymentAnotherJobFinished_RefusesAndMovesNothing()
    {
        using var world = await MotoWorld.CreateAsync("recold");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, PausingCanary);
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        var paused = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");
        paused.ExitCode.ShouldBe(5, paused.ToString());
        (await _cli.RunAsync("import", "--state", _emptyState)).ExitCode.ShouldBe(0);
        var finished = await _cli.RunAsync("continue", paused.Id, "--state", _emptyState, "--output", "json");
        finished.ExitCode.ShouldBe(0, finished.ToString());
        var weights = await world.ListenerWeightsAsync();

        var rollback = await _cli.RunAsync("rollback", world.Service, "--output", "json");
        var again = await _cli.RunAsync("continue", paused.Id, "--output", "json");

        rollback.ExitCode.ShouldNotBe(0, rollback.ToString());
        rollback.Stderr.ShouldContain("this deployment was finished elsewhere; run `backstay import`");
        again.ExitCode.ShouldNotBe(0, again.ToString());
        again.Stderr.ShouldContain("this deployment was finished elsewhere; run `backstay import`");
        (await world.ListenerWeightsAsync()).ShouldBe(weights, "the older record acted on nothing");
        Tags.Find((await world.DescribeServiceAsync())!.Tags, Tags.Deployment).ShouldNotBeNull().ShouldContain($"id={paused.Id} kind=Deploy state=Succeeded");
    }

    [Fact]
    public async Task Commands_InAnEmptyStateDirectory_SayThatImportReadsTheServiceBack()
    {
        using var world = await MotoWorld.CreateAsync("recempty");
        _cli.WriteSpec(world, BlueGreen);

        var runs = new[]
        {
            await _cli.RunAsync("status", world.Service, "--state", _emptyState),
            await _cli.RunAsync("rollback", world.Service, "--state", _emptyState),
            await _cli.RunAsync("continue", "d-ELSEWHERE", "--state", _emptyState),
            await _cli.RunAsync("stop", "d-ELSEWHERE", "--state", _emptyState),
        };

        foreach (var run in runs)
        {
            run.ExitCode.ShouldBe(2, run.ToString());
            run.Stderr.ShouldContain("backstay import");
            run.Stderr.ShouldContain("backstay deploy");
            run.Stderr.ShouldNotContain("Unknown");
        }
    }

    /// <summary>The revision numbers tagged on the service family's registered (ACTIVE) task definitions.</summary>
    private static async Task<HashSet<int>> RegisteredRevisionsAsync(MotoWorld world)
    {
        var listed = await world.Aws.Ecs.ListTaskDefinitionsAsync(new ListTaskDefinitionsRequest { FamilyPrefix = world.Service, Status = "ACTIVE" },
            CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        var numbers = new HashSet<int>();
        foreach (var arn in listed.TaskDefinitionArns)
        {
            var described = await world.Aws.Ecs.DescribeTaskDefinitionAsync(new DescribeTaskDefinitionRequest { TaskDefinition = arn, Include = ["TAGS"] },
                CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
            if (int.TryParse(Tags.Find(described.Tags, Tags.Revision), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                numbers.Add(number);
            }
        }

        return numbers;
    }
}
