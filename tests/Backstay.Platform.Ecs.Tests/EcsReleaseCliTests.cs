using System.Diagnostics;
using System.Text.Json;
using Backstay.Core.Engine;
using Backstay.Core.Releases;
using Backstay.Platform.Ecs.Tests.Moto;
using Xunit.Abstractions;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// `backstay release -f release.yaml` on Amazon ECS (moto), with no controller: the real CLI runs the engine in its own
/// process. Three services, each in its own cluster behind its own load balancer: api, and worker and web that depend on
/// it. What each service serves is read back from moto (task sets, listener weights) and the order of what Backstay
/// changed from moto's request log.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class EcsReleaseCliTests : IDisposable
{
    private const string V1 = "public.ecr.aws/nginx/nginx:1.27";
    private const string V2 = "public.ecr.aws/nginx/nginx:1.28";
    private const string BlueGreen = "blueGreen: { testTraffic: true, bake: 1s, keepPreviousFor: 0s }";
    private const string SlowBlueGreen = "blueGreen: { testTraffic: true, bake: 4s, keepPreviousFor: 0s }";

    /// <summary>Holds revision 2 at 20% of production traffic for five minutes: the test fires the alarm meanwhile.</summary>
    private const string WaitingCanary = "canary: { steps: [ { setWeight: 20 }, { pause: { duration: 5m } }, { setWeight: 100 } ] }";

    /// <summary>The lease an engine in a CLI process holds on a release and on each service it runs (EngineOptions' default, which the CLI keeps).</summary>
    private static readonly TimeSpan LeaseTtl = new EngineOptions().LeaseTtl;

    /// <summary>How long a whole release of three services (and its rollback) may take on a loaded machine.</summary>
    private static readonly TimeSpan ReleaseLimit = TimeSpan.FromSeconds(300);

    /// <summary>Operations that change what runs or what serves, the ones a rollback's order is about.</summary>
    private static readonly HashSet<string> TrafficAndTasks = new(StringComparer.Ordinal)
    {
        "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule", "ecs:CreateTaskSet", "ecs:UpdateTaskSet", "ecs:DeleteTaskSet",
        "ecs:UpdateService", "ecs:UpdateServicePrimaryTaskSet",
    };

    private readonly EcsCli _cli = new();
    private readonly MotoRequestLog _log;
    private readonly ITestOutputHelper _output;

    public EcsReleaseCliTests(MotoServer moto, ITestOutputHelper output)
    {
        ArgumentNullException.ThrowIfNull(moto);
        _log = moto.RequestLog;
        _output = output;
    }

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Release_ThirdServiceFails_EveryServiceBackOnItsPreviousTaskDefinition()
    {
        using var api = await MotoWorld.CreateAsync("relapi");
        using var worker = await MotoWorld.CreateAsync("relwrk");
        using var web = await MotoWorld.CreateAsync("relweb");
        await using var agent = new MotoTaskSetAgent(api, worker, web);
        WriteSpec("api", api, BlueGreen);
        WriteSpec("worker", worker, BlueGreen);
        WriteSpec("web", web, WaitingCanary);
        var first = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (dir, world) in new[] { ("api", api), ("worker", worker), ("web", web) })
        {
            first[world.Service] = await DeployFirstRevisionAsync(dir, world);
        }

        WriteRelease(api, worker, web);
        var webStable = await ServingTargetGroupAsync(web);
        var mark = _log.Count();

        using var process = _cli.Start("release", "-f", "release.yaml", "--output", "json");
        using var guard = new KillOnDispose(process);
        var running = WaitAsync(process, ReleaseLimit);

        // web's revision 2 at 20% and worker through: then web's alarm fires, as a bad revision's 5xx would make it.
        var clock = Stopwatch.StartNew();
        Release? seen = null;
        while (clock.Elapsed < ReleaseLimit && !process.HasExited)
        {
            seen = await ReleaseAsync();
            if ((await web.ListenerWeightsAsync())[webStable] == 80 && seen?.Member(worker.Service)?.State == ReleaseMemberState.Succeeded)
            {
                break;
            }

            await Task.Delay(250);
        }

        if (process.HasExited)
        {
            throw new ShouldAssertException($"the release ended before web's alarm fired: {await running}");
        }

        (await web.ListenerWeightsAsync())[webStable].ShouldBe(80, Describe(seen));
        await web.SetAlarmStateAsync("ALARM");
        var run = await running;

        run.ExitCode.ShouldBe(3, run.ToString());
        run.Outcome.ShouldBe("RolledBack", run.ToString());
        var report = run.Json;
        report.GetProperty("failedService").GetString().ShouldBe(web.Service);
        report.GetProperty("reason").GetString()!.ShouldContain(web.AlarmName);
        report.GetProperty("timeToRestoreMs").GetInt64().ShouldBeGreaterThan(0);
        var services = report.GetProperty("services").EnumerateArray().ToDictionary(s => s.GetProperty("service").GetString()!, s => s);
        services.Keys.ShouldBe([api.Service, worker.Service, web.Service], ignoreOrder: true);
        foreach (var (name, service) in services)
        {
            service.GetProperty("outcome").GetString().ShouldBe("RolledBack", $"{name}: {service.GetRawText()}");
            service.GetProperty("fromRevision").GetInt32().ShouldBe(1, name);
            service.GetProperty("toRevision").GetInt32().ShouldBe(2, name);
        }

        // web rolled its own deployment back; api and worker had succeeded, so each got a rollback deployment to revision 1.
        services[web.Service].GetProperty("rollbackDeploymentId").ValueKind.ShouldBe(JsonValueKind.Null, services[web.Service].GetRawText());
        services[api.Service].GetProperty("rollbackDeploymentId").GetString().ShouldStartWith("d-");
        services[worker.Service].GetProperty("rollbackDeploymentId").GetString().ShouldStartWith("d-");
        var types = report.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        types.ShouldContain("ServiceFailed");
        types[^1].ShouldBe("RolledBack");

        // From moto: each service runs one task set, its revision-1 task definition, with all production traffic.
        foreach (var world in new[] { api, worker, web })
        {
            var set = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem(world.Service);
            set.ExternalId.ShouldBe("backstay:revision:1", world.Service);
            set.TaskDefinition.ShouldBe(first[world.Service], world.Service);
            set.Scale!.Value.ShouldBe(100, world.Service);
            await ShouldHaveAllProductionTrafficAsync(world, set.LoadBalancers!.Single().TargetGroupArn!);
        }

        // In reverse dependency order: api's rollback changed nothing before worker and web were back.
        var calls = _log.Since(mark).Select((r, i) => (Index: i, Request: r, Service: ServiceOf(r, api, worker, web)))
            .Where(c => TrafficAndTasks.Contains(c.Request.Operation) && c.Service is not null).ToList();
        var timeline = string.Join("\n", calls.Select(c => $"{c.Index} {c.Service} {c.Request.Operation}"));
        _output.WriteLine(timeline);
        _output.WriteLine(string.Join("\n", report.GetProperty("events").EnumerateArray().Select(e => $"{e.GetProperty("at")} {e.GetProperty("type")}: {e.GetProperty("message")}")));
        var dependentsFirst = calls.First(c => c.Service != api.Service).Index;
        var dependentsLast = calls.Last(c => c.Service != api.Service).Index;
        var apiRollback = calls.Where(c => c.Service == api.Service && c.Index > dependentsFirst).ToList();
        apiRollback.ShouldNotBeEmpty("api's rollback moved traffic and task sets:\n" + timeline);
        apiRollback.First().Index.ShouldBeGreaterThan(dependentsLast, "api's rollback started before worker and web were back:\n" + timeline);
        apiRollback.ShouldContain(c => c.Request.Operation == "elasticloadbalancing:ModifyListener", timeline);
    }

    [Fact]
    public async Task Release_ProcessKilledMidRelease_ContinueCarriesItOn()
    {
        using var api = await MotoWorld.CreateAsync("relkapi");
        using var worker = await MotoWorld.CreateAsync("relkwrk");
        using var web = await MotoWorld.CreateAsync("relkweb");
        await using var agent = new MotoTaskSetAgent(api, worker, web);
        WriteSpec("api", api, SlowBlueGreen);
        WriteSpec("worker", worker, SlowBlueGreen);
        WriteSpec("web", web, SlowBlueGreen);
        foreach (var (dir, world) in new[] { ("api", api), ("worker", worker), ("web", web) })
        {
            await DeployFirstRevisionAsync(dir, world);
        }

        WriteRelease(api, worker, web);
        var mark = _log.Count();

        using var process = _cli.Start("release", "-f", "release.yaml", "--output", "json");
        using var guard = new KillOnDispose(process);
        var running = WaitAsync(process, ReleaseLimit);
        var clock = Stopwatch.StartNew();
        Release? release = null;
        while (clock.Elapsed < ReleaseLimit && !process.HasExited)
        {
            // A service's deployment under way in this process: it holds the release's lease and the service's.
            release = await ReleaseAsync();
            if (release?.Members.FirstOrDefault(m => m.State == ReleaseMemberState.Deploying) is { DeploymentId: { } id }
                && await DeploymentAsync(id) is { State: Core.Model.DeploymentState.InProgress, CurrentStep: >= 1 })
            {
                break;
            }

            await Task.Delay(100);
        }

        if (process.HasExited)
        {
            throw new ShouldAssertException($"the release ended before it could be killed: {await running}");
        }

        process.Kill(entireProcessTree: true);
        var killed = await running;
        killed.ExitCode.ShouldNotBe(0, killed.ToString());
        release = (await ReleaseAsync()).ShouldNotBeNull();
        release.Phase.ShouldBe(ReleasePhase.InProgress, Describe(release));
        var deploying = release.Members.Where(m => m.State == ReleaseMemberState.Deploying).Select(m => m.Service).ToList();
        deploying.ShouldNotBeEmpty(Describe(release));
        _output.WriteLine("killed at: " + Describe(release));

        // The dead process's leases run out after LeaseTtl; the continue waits for them, then runs the rest.
        var continued = await RunAsync(LeaseTtl * 2 + ReleaseLimit, "continue", release.Id, "--output", "json");

        continued.ExitCode.ShouldBe(0, continued.ToString());
        continued.Outcome.ShouldBe("Succeeded", continued.ToString());
        continued.Id.ShouldBe(release.Id);
        _output.WriteLine(string.Join("\n", continued.Json.GetProperty("events").EnumerateArray().Select(e => $"{e.GetProperty("at")} {e.GetProperty("type")}: {e.GetProperty("message")}")));
        var services = continued.Json.GetProperty("services").EnumerateArray().ToDictionary(s => s.GetProperty("service").GetString()!, s => s);
        services.Keys.ShouldBe([api.Service, worker.Service, web.Service], ignoreOrder: true);
        foreach (var world in new[] { api, worker, web })
        {
            var service = services[world.Service];
            service.GetProperty("outcome").GetString().ShouldBe("Succeeded", service.GetRawText());
            service.GetProperty("fromRevision").GetInt32().ShouldBe(1, world.Service);
            service.GetProperty("toRevision").GetInt32().ShouldBe(2, world.Service);

            // One deployment of revision 2 per service: the release's own, carried on, not a second one.
            var history = await RunAsync(EcsCli.CommandTimeout, "history", world.Service, "--output", "json");
            history.ExitCode.ShouldBe(0, history.ToString());
            var deployments = history.Json.EnumerateArray().ToList();
            var second = deployments.Where(d => d.GetProperty("revision").GetInt32() == 2).ShouldHaveSingleItem(history.Stdout);
            second.GetProperty("id").GetString().ShouldBe(service.GetProperty("deploymentId").GetString());
            second.GetProperty("outcome").GetString().ShouldBe("Succeeded");
            deployments.Count.ShouldBe(2, history.Stdout);

            var set = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem(world.Service);
            set.ExternalId.ShouldBe("backstay:revision:2", world.Service);
            set.Scale!.Value.ShouldBe(100, world.Service);
            await ShouldHaveAllProductionTrafficAsync(world, set.LoadBalancers!.Single().TargetGroupArn!);
        }

        var created = _log.Since(mark).Where(r => r.Operation == "ecs:CreateTaskSet").Select(r => ServiceOf(r, api, worker, web)).ToList();
        created.ShouldBe([api.Service, worker.Service, web.Service], ignoreOrder: true, "one task set of revision 2 per service, none created twice");
        var releases = await RunAsync(EcsCli.CommandTimeout, "history", "--releases", "--output", "json");
        releases.Json.GetProperty("releases").EnumerateArray().ShouldHaveSingleItem().GetProperty("outcome").GetString().ShouldBe("Succeeded");
    }

    [Fact]
    public async Task Release_BadFile_RefusedBeforeAnythingMoves()
    {
        using var api = await MotoWorld.CreateAsync("relcapi");
        using var web = await MotoWorld.CreateAsync("relcweb");
        WriteSpec("api", api, BlueGreen);
        WriteSpec("web", web, BlueGreen);
        File.WriteAllText(Path.Combine(_cli.WorkDirectory, "release.yaml"), $"""
            release: cyclic
            services:
              - spec: api/backstay.yaml
                image: {V2}
                dependsOn: [{web.Service}]
              - spec: web/backstay.yaml
                image: {V2}
                dependsOn: [{api.Service}]
            onFailure: rollbackAll
            """);
        var mark = _log.Count();

        var run = await _cli.RunAsync("release", "-f", "release.yaml", "--output", "json");

        run.ExitCode.ShouldBe(2, run.ToString());
        run.Stdout.ShouldBeEmpty(run.ToString());
        // Line 5: services[0].dependsOn, the first service of the cycle.
        run.Stderr.ShouldContain("release.yaml:5:", customMessage: run.ToString());
        run.Stderr.ShouldContain("services[0].dependsOn: dependency cycle", customMessage: run.ToString());
        run.Stderr.ShouldContain($"{api.Service} -> {web.Service} -> {api.Service}", customMessage: run.ToString());
        _log.Since(mark).Where(r => MotoRequestLog.Mutating.Contains(r.Operation)).ShouldBeEmpty("a refused release changes nothing on AWS");
        (await api.DescribeServiceAsync()).ShouldBeNull();
        (await web.DescribeServiceAsync()).ShouldBeNull();
        var history = await _cli.RunAsync("history", "--releases", "--output", "json");
        history.ExitCode.ShouldBe(0, history.ToString());
        history.Json.GetProperty("releases").GetArrayLength().ShouldBe(0, history.Stdout);
    }

    /// <summary>Writes DIR/backstay.yaml for the world's service, as EcsCli.WriteSpec does for one service.</summary>
    private void WriteSpec(string directory, MotoWorld world, string strategy)
    {
        Directory.CreateDirectory(Path.Combine(_cli.WorkDirectory, directory));
        File.WriteAllText(Path.Combine(_cli.WorkDirectory, directory, "backstay.yaml"), $$"""
            service: {{world.Service}}
            platform:
              ecs:
                cluster: {{world.Cluster}}
                region: {{MotoServer.Region}}
                container: web
                desiredCount: 2
                launchType: EC2
                loadBalancer: { productionListener: "{{world.ProductionListener}}", testListener: "{{world.TestListener}}", targetGroups: ["{{world.Blue}}", "{{world.Green}}"] }
                alarms: [{{world.AlarmName}}]
            task:
              image: {{V1}}
              port: 8080
              startTimeout: 30s
            strategy:
              {{strategy}}
            analysis: { window: 2s, minRequests: 20, interval: 250ms }
            """);
    }

    /// <summary>release.yaml: api, then worker and web after it, each to the V2 image; every service that moved goes back when one fails.</summary>
    private void WriteRelease(MotoWorld api, MotoWorld worker, MotoWorld web) =>
        File.WriteAllText(Path.Combine(_cli.WorkDirectory, "release.yaml"), $"""
            release: checkout
            services:
              - spec: api/backstay.yaml
                image: {V2}
              - spec: worker/backstay.yaml
                image: {V2}
                dependsOn: [{api.Service}]
              - spec: web/backstay.yaml
                image: {V2}
                dependsOn: [{api.Service}]
            onFailure: rollbackAll
            """);

    /// <summary>`backstay deploy -f DIR/backstay.yaml`: revision 1; returns the task definition its task set runs.</summary>
    private async Task<string> DeployFirstRevisionAsync(string directory, MotoWorld world)
    {
        var run = await RunAsync(EcsCli.CommandTimeout, "deploy", "-f", $"{directory}/backstay.yaml", "--output", "json");
        run.ExitCode.ShouldBe(0, run.ToString());
        run.Json.GetProperty("revision").GetInt32().ShouldBe(1);
        var set = (await world.DescribeServiceAsync())!.TaskSets.ShouldHaveSingleItem();
        set.ExternalId.ShouldBe("backstay:revision:1");
        return set.TaskDefinition.ShouldNotBeNull();
    }

    /// <summary>The production listener sends everything to the target group of the task set that runs, nothing to the other.</summary>
    private static async Task ShouldHaveAllProductionTrafficAsync(MotoWorld world, string serving)
    {
        var other = serving == world.Blue ? world.Green : world.Blue;
        var weights = await world.ListenerWeightsAsync();
        weights.OrderBy(w => w.Key, StringComparer.Ordinal).ShouldBe(
            new Dictionary<string, int> { [serving] = 100, [other] = 0 }.OrderBy(w => w.Key, StringComparer.Ordinal), $"{world.Service}, serving {serving}");
    }

    private static async Task<string> ServingTargetGroupAsync(MotoWorld world) => (await world.ListenerWeightsAsync()).Single(w => w.Value == 100).Key;

    /// <summary>The newest release in the state directory, read beside the CLI processes.</summary>
    private async Task<Release?> ReleaseAsync()
    {
        await using var store = await _cli.OpenStoreAsync();
        return (await store.ListReleasesAsync(1, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)).FirstOrDefault();
    }

    private async Task<Core.Model.Deployment?> DeploymentAsync(string id)
    {
        await using var store = await _cli.OpenStoreAsync();
        return await store.GetDeploymentAsync(id, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
    }

    private static string Describe(Release? release) => release is null
        ? "no release on record"
        : $"{release.Id} {release.Phase}: " + string.Join("; ", release.Members.Select(m => $"{m.Service} {m.State} {m.DeploymentId} {m.Reason}"));

    /// <summary>The service of the world a request was about (its cluster, listener or target group names carry the world's name).</summary>
    private static string? ServiceOf(MotoRequest request, params MotoWorld[] worlds)
    {
        var body = Uri.UnescapeDataString(request.Body);
        return worlds.FirstOrDefault(w => body.Contains(w.Name, StringComparison.Ordinal))?.Service;
    }

    private async Task<CliRun> RunAsync(TimeSpan limit, params string[] args)
    {
        using var process = _cli.Start(args);
        return await WaitAsync(process, limit);
    }

    /// <summary>As EcsCli.WaitAsync, with a limit of the test's own (a release runs several deployments).</summary>
    private static async Task<CliRun> WaitAsync(Process process, TimeSpan limit)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            throw new TimeoutException($"backstay {string.Join(' ', process.StartInfo.ArgumentList.Skip(1))} did not exit within {limit}:\n" +
                $"{await stdout.WaitAsync(TimeSpan.FromSeconds(5))}\n{await stderr.WaitAsync(TimeSpan.FromSeconds(5))}");
        }

        return new CliRun(process.ExitCode, await stdout.WaitAsync(TimeSpan.FromSeconds(10)), await stderr.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>A release left running by a failed assertion must not outlive the test.</summary>
    private sealed class KillOnDispose(Process process) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
