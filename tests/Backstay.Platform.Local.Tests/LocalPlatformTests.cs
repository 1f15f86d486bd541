using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Backstay.Core.Ports;

namespace Backstay.Platform.Local.Tests;

/// <summary>The local platform against real hello processes and a real HAProxy.</summary>
public sealed class LocalPlatformTests : IAsyncLifetime
{
    private readonly Sandbox _sandbox = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task ScaleAsync_ThreeInstances_AllHealthyAndServeThroughProductionListener()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);

        await platform.ScaleAsync(spec, _sandbox.Revision(1), 3, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 3);

        var sets = await platform.ListAsync(spec.Service, CancellationToken.None).Within(10);
        var set = sets.ShouldHaveSingleItem();
        set.Revision.ShouldBe(1);
        set.DesiredCount.ShouldBe(3);
        set.Instances.Count.ShouldBe(3);
        set.Instances.ShouldAllBe(i => i.Health == InstanceHealth.Healthy && i.Restarts == 0 && i.Id.StartsWith(spec.Service + "-r1-"));
        set.Instances.Select(i => i.Address).Distinct().Count().ShouldBe(3);
        var pids = platform.ProcessIds().Instances;
        pids.Count.ShouldBe(3);
        pids.ShouldAllBe(pid => Sandbox.IsAlive(pid));
        await Sandbox.WaitUntilAsync(async () => (await _sandbox.GetAsync(port)).Status == 200, 10, "the production listener to answer");
        var answer = await _sandbox.GetAsync(port);
        answer.ShouldBe((200, "1"));
    }

    [Fact]
    public async Task ScaleAsync_BeyondTheSlotsOfAOneInstanceService_RefusesNamingTheLimit()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort());
        spec = spec with { Platform = new Backstay.Core.Spec.PlatformSpec { Local = spec.Platform.Local! with { Instances = 1 } } };
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 5, CancellationToken.None).Within(30);

        var refused = await Should.ThrowAsync<PlatformException>(() => platform.ScaleAsync(spec, _sandbox.Revision(2), 1, CancellationToken.None).Within(30));

        refused.Message.ShouldContain("already has 5 instances, all its load-balancer slots");
        (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Sum(s => s.Instances.Count).ShouldBe(5);
    }

    [Fact]
    public async Task SetWeightsAsync_NinetyTen_SplitsTrafficAndReadsBack()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        await platform.ScaleAsync(spec, _sandbox.Revision(2), 2, CancellationToken.None).Within(30);
        await WaitHealthyAsync(platform, 1, 2);
        await WaitHealthyAsync(platform, 2, 2);

        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 90, [2] = 10 }, CancellationToken.None).Within(10);

        var weights = await platform.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).Within(10);
        weights[1].ShouldBeInRange(89, 91);
        weights[2].ShouldBeInRange(9, 11);
        var answers = await LoadAsync(port, total: 1000, parallel: 8);
        answers.ShouldAllBe(a => a.Status == 200);
        var share = answers.Count(a => a.Revision == "2") / (double)answers.Count;
        share.ShouldBeInRange(0.06, 0.14);
    }

    [Fact]
    public async Task GetMetricsAsync_ErrorRate_CountsEveryRequestExactly()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1, ("ERROR_RATE", "0.3")), 2, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 2);
        await WaitForWeightsAsync(platform, spec.Service, 1, 100);
        var since = TimeProvider.System.GetUtcNow();

        var answers = await LoadAsync(port, total: 500, parallel: 4);

        var served500 = answers.Count(a => a.Status == 500);
        answers.Count(a => a.Status == 200).ShouldBe(500 - served500);
        RevisionMetrics metrics = null!;
        await Sandbox.WaitUntilAsync(
            async () =>
            {
                metrics = await platform.GetMetricsAsync(spec.Service, 1, TimeSpan.FromMinutes(1), since, CancellationToken.None);
                return metrics.Requests >= 500;
            },
            10,
            "HAProxy's log lines for all 500 requests");
        await Task.Delay(200);
        metrics = await platform.GetMetricsAsync(spec.Service, 1, TimeSpan.FromMinutes(1), since, CancellationToken.None).Within(10);
        metrics.Requests.ShouldBe(500);
        metrics.Errors.ShouldBe(served500);
        metrics.ErrorRate.ShouldBeInRange(0.22, 0.38);
        metrics.LatencyP50Ms.ShouldNotBeNull();
        metrics.LatencyP90Ms.ShouldNotBeNull();
        metrics.LatencyP99Ms.ShouldNotBeNull();
        metrics.LatencyP99Ms.Value.ShouldBeGreaterThanOrEqualTo(metrics.LatencyP50Ms.Value);
        metrics.FirstErrorAt.ShouldNotBeNull();
        metrics.FirstErrorAt.Value.ShouldBeGreaterThanOrEqualTo(since);
        var other = await platform.GetMetricsAsync(spec.Service, 2, TimeSpan.FromMinutes(1), since, CancellationToken.None).Within(10);
        other.Requests.ShouldBe(0);
        other.LatencyP50Ms.ShouldBeNull();
    }

    [Fact]
    public async Task GetMetricsAsync_Latency_ReportsServerResponseTime()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1, ("LATENCY_MS", "120")), 1, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 1);
        await WaitForWeightsAsync(platform, spec.Service, 1, 100);

        await LoadAsync(port, total: 20, parallel: 4);

        await Sandbox.WaitUntilAsync(
            async () => (await platform.GetMetricsAsync(spec.Service, 1, TimeSpan.FromMinutes(1), null, CancellationToken.None)).Requests >= 20,
            10,
            "log lines for 20 requests");
        var metrics = await platform.GetMetricsAsync(spec.Service, 1, TimeSpan.FromMinutes(1), null, CancellationToken.None).Within(10);
        metrics.LatencyP50Ms!.Value.ShouldBeGreaterThanOrEqualTo(115);
        metrics.Errors.ShouldBe(0);
    }

    [Fact]
    public async Task ShiftUnderLoad_WeightsMoveAndOldRevisionScalesToZero_NoFailedRequests()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 2);
        await WaitForWeightsAsync(platform, spec.Service, 1, 100);

        using var load = new SteadyLoad(_sandbox, port, requestsPerSecond: 100);
        await Task.Delay(500);
        await platform.ScaleAsync(spec, _sandbox.Revision(2), 2, CancellationToken.None).Within(30);
        await WaitHealthyAsync(platform, 2, 2);
        foreach (var weight in new[] { 25, 50, 75, 100 })
        {
            await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 - weight, [2] = weight }, CancellationToken.None).Within(10);
            await Task.Delay(300);
        }

        await platform.ScaleAsync(spec, _sandbox.Revision(1), 0, CancellationToken.None).Within(30);
        await Task.Delay(1000);
        var answers = await load.StopAsync().Within(30);

        answers.Count.ShouldBeGreaterThan(200);
        answers.Where(a => a.Status != 200).ShouldBeEmpty();
        answers.TakeLast(50).ShouldAllBe(a => a.Revision == "2");
        answers.ShouldContain(a => a.Revision == "1");
        var sets = await platform.ListAsync(spec.Service, CancellationToken.None).Within(10);
        sets.ShouldHaveSingleItem().Revision.ShouldBe(2);
        (await platform.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).Within(10)).ShouldBe(new Dictionary<int, int> { [2] = 100 });
    }

    [Fact]
    public async Task ScaleAsync_Down_StopsNewestInstancesFirst()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort());
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 3, CancellationToken.None).Within(30);
        var before = (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances;

        await platform.ScaleAsync(spec, _sandbox.Revision(1), 1, CancellationToken.None).Within(30);

        var after = (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single();
        after.DesiredCount.ShouldBe(1);
        after.Instances.ShouldHaveSingleItem().Id.ShouldBe(before[0].Id);
        platform.ProcessIds().Instances.Count.ShouldBe(1);
    }

    [Fact]
    public async Task DeadInstance_KilledWithSigkill_IsReportedAndRestarted()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 1, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 1);
        var instance = (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances.Single();
        var pid = platform.ProcessIds().Instances.Single();

        using (var process = Process.GetProcessById(pid))
        {
            process.Kill();
        }

        await Sandbox.WaitUntilAsync(() => _sandbox.Events.Any(e => e.Type == PlatformEventTypes.InstanceDied && e.InstanceId == instance.Id), 10, "the death to be reported");
        await Sandbox.WaitUntilAsync(
            async () => (await platform.ListAsync(spec.Service, CancellationToken.None)).Single().Instances.Single() is { Restarts: 1, Health: InstanceHealth.Healthy },
            15,
            "the instance to be restarted and healthy");
        var died = _sandbox.Events.First(e => e.Type == PlatformEventTypes.InstanceDied && e.InstanceId == instance.Id);
        died.Message.ShouldContain("SIGKILL");
        died.Revision.ShouldBe(1);
        died.Service.ShouldBe(spec.Service);
        _sandbox.Events.ShouldContain(e => e.Type == PlatformEventTypes.InstanceRestarted && e.InstanceId == instance.Id);
        var restarted = (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances.Single();
        restarted.Id.ShouldBe(instance.Id);
        platform.ProcessIds().Instances.Single().ShouldNotBe(pid);
        await Sandbox.WaitUntilAsync(async () => (await _sandbox.GetAsync(port)).Status == 200, 10, "traffic to reach the restarted instance");
    }

    [Fact]
    public async Task HealthCheck_InstanceStopsAnswering_IsUnhealthyAndDrainedThenHealthyAgain()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 2);
        var frozen = (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances[0];
        var pid = platform.ProcessIds().Instances.Single(p => File.ReadAllText($"/proc/{p}/environ").Contains($"BACKSTAY_INSTANCE={frozen.Id}\0", StringComparison.Ordinal));

        await Sandbox.SignalAsync(pid, "STOP");
        try
        {
            await Sandbox.WaitUntilAsync(
                async () => (await platform.ListAsync(spec.Service, CancellationToken.None)).Single().Instances.Single(i => i.Id == frozen.Id).Health == InstanceHealth.Unhealthy,
                15,
                "the frozen instance to turn unhealthy");
            var answers = await LoadAsync(port, total: 40, parallel: 2);
            answers.ShouldAllBe(a => a.Status == 200);
            _sandbox.Events.ShouldContain(e => e.Type == PlatformEventTypes.InstanceUnhealthy && e.InstanceId == frozen.Id);
        }
        finally
        {
            await Sandbox.SignalAsync(pid, "CONT");
        }

        await WaitHealthyAsync(platform, 1, 2);
        (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances.ShouldAllBe(i => i.Restarts == 0);
    }

    [Fact]
    public async Task FailingHealthCheck_InstanceNeverGetsTraffic()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1, ("FAIL_HEALTH", "true")), 1, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);

        // The first checks may find the process not yet listening (connection refused); wait for one that reached it.
        InstanceStatus? instance = null;
        await Sandbox.WaitUntilAsync(
            async () =>
            {
                instance = (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances.Single();
                return instance.LastError?.Contains("503", StringComparison.Ordinal) == true;
            },
            30,
            "a health check that reached the instance and got its 503");
        var answer = await _sandbox.GetAsync(port);

        instance!.Health.ShouldBe(InstanceHealth.Starting);
        (await platform.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).Within(10)).ShouldBe(new Dictionary<int, int> { [1] = 0 });
        answer.ShouldBe((503, null));
    }

    [Fact]
    public async Task StartAsync_StateDirectoryTooLongForASocket_PutsTheSocketInTmp()
    {
        var longDirectory = Path.Combine(_sandbox.StateDirectory, new string('d', 90));
        var platform = await _sandbox.StartPlatformAsync(_sandbox.Options with { StateDirectory = longDirectory });
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 1, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 1);
        var socket = platform.SocketPath;

        await Sandbox.WaitUntilAsync(async () => (await _sandbox.GetAsync(port)).Status == 200, 10, "the production listener to answer");

        socket.ShouldStartWith(Path.Combine(Path.GetTempPath(), "backstay-"));
        socket.Length.ShouldBeLessThanOrEqualTo(100);
        File.ReadAllText(Path.Combine(longDirectory, "local", "platform.json")).ShouldContain(socket);
        await platform.DisposeAsync().Within(30);
        Directory.Exists(Path.GetDirectoryName(socket)).ShouldBeFalse();
    }

    [Fact]
    public async Task CrashAtStart_InstanceKeepsDying_RestartsGrowAndNeverHealthy()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort());
        var seen = new HashSet<InstanceHealth>();

        await platform.ScaleAsync(spec, _sandbox.Revision(1, ("CRASH_AT_START", "true")), 1, CancellationToken.None).Within(30);

        await Sandbox.WaitUntilAsync(
            async () =>
            {
                var instance = (await platform.ListAsync(spec.Service, CancellationToken.None)).Single().Instances.Single();
                seen.Add(instance.Health);
                return instance.Restarts >= 3;
            },
            20,
            "three restarts");
        seen.ShouldNotContain(InstanceHealth.Healthy);
        var status = (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances.Single();
        status.Health.ShouldNotBe(InstanceHealth.Healthy);
        _sandbox.Events.Where(e => e.Type == PlatformEventTypes.InstanceDied).Count().ShouldBeGreaterThanOrEqualTo(3);
        var died = _sandbox.Events.First(e => e.Type == PlatformEventTypes.InstanceDied);
        died.Message.ShouldContain("exited with code 1");
        died.Message.ShouldContain("CRASH_AT_START");
    }

    [Fact]
    public async Task EnsureServiceAsync_ListenerPortInUse_ThrowsNamingAddressAndStartsNothing()
    {
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        var port = ((IPEndPoint)occupant.LocalEndpoint).Port;
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(port);

        var error = await Should.ThrowAsync<PlatformException>(platform.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30));

        error.Message.ShouldContain(Sandbox.Address(port));
        error.Message.ShouldContain("another port");
        platform.ProcessIds().Haproxy.ShouldBeNull();
        platform.ProcessIds().Instances.ShouldBeEmpty();
        (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).ShouldBeEmpty();
        _sandbox.FindOwnProcesses().ShouldBeEmpty();
        File.Exists(Path.Combine(_sandbox.StateDirectory, "local", "haproxy.cfg")).ShouldBeFalse();
    }

    [Fact]
    public async Task EnsureServiceAsync_SecondServiceOnFreePortAfterConflict_Works()
    {
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        var busy = ((IPEndPoint)occupant.LocalEndpoint).Port;
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 1, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 1);
        var haproxy = platform.ProcessIds().Haproxy;

        await Should.ThrowAsync<PlatformException>(platform.EnsureServiceAsync(_sandbox.Spec(port, busy), CancellationToken.None).Within(30));

        platform.ProcessIds().Haproxy.ShouldBe(haproxy);
        await Sandbox.WaitUntilAsync(async () => (await _sandbox.GetAsync(port)).Status == 200, 10, "the production listener to keep answering");
    }

    [Fact]
    public async Task EnsureServiceAsync_TestListenerAdded_ReloadsWithoutFailedRequests()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var testPort = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 2);
        await WaitForWeightsAsync(platform, spec.Service, 1, 100);
        var before = platform.ProcessIds().Haproxy;
        using var load = new SteadyLoad(_sandbox, port, requestsPerSecond: 100);
        await Task.Delay(300);

        var withTest = _sandbox.Spec(port, testPort);
        await platform.ScaleAsync(withTest, _sandbox.Revision(2), 1, CancellationToken.None).Within(30);
        await WaitHealthyAsync(platform, 2, 1);
        await platform.SetWeightsAsync(spec.Service, Listener.Test, new Dictionary<int, int> { [2] = 100 }, CancellationToken.None).Within(10);
        await Task.Delay(500);
        var answers = await load.StopAsync().Within(30);

        platform.ProcessIds().Haproxy.ShouldNotBe(before);
        _sandbox.Events.ShouldContain(e => e.Type == PlatformEventTypes.HaproxyReloaded);
        answers.Where(a => a.Status != 200).ShouldBeEmpty();
        answers.ShouldAllBe(a => a.Revision == "1");
        (await _sandbox.GetAsync(testPort)).ShouldBe((200, "2"));
        (await platform.GetWeightsAsync(spec.Service, Listener.Test, CancellationToken.None).Within(10))[2].ShouldBe(100);
        (await platform.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).Within(10))[1].ShouldBe(100);
    }

    /// <summary>
    /// After a seamless reload the retiring HAProxy shares the runtime socket's listener for a moment and answers what it
    /// is asked with "No such backend" (seen under load: first deployments stopped on it). A process plays that retiring
    /// HAProxy here for as long as the test runs, so most command lines would reach it.
    /// </summary>
    [Fact]
    public async Task SetAndGetWeights_WhileARetiringHaproxyAlsoAnswersTheRuntimeSocket_ActOnTheServingOne()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 1, CancellationToken.None).Within(30);
        await platform.ScaleAsync(spec, _sandbox.Revision(2), 1, CancellationToken.None).Within(30);
        await WaitHealthyAsync(platform, 1, 1);
        await WaitHealthyAsync(platform, 2, 1);
        using var retiring = _sandbox.Track(Process.Start(new ProcessStartInfo("python3")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "retiring_haproxy.py"), platform.SocketPath },
            RedirectStandardOutput = true,
        })!);
        (await retiring.StandardOutput.ReadLineAsync().Within(10)).ShouldBe("ready");

        foreach (var stable in new[] { 90, 50, 10, 100, 0, 70, 30, 60, 20, 80, 95, 45, 15, 85, 5, 75, 35, 65, 25, 55 })
        {
            var weights = new Dictionary<int, int> { [1] = stable, [2] = 100 - stable };
            await platform.SetWeightsAsync(spec.Service, Listener.Production, weights, CancellationToken.None).Within(30);
            (await platform.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).Within(30)).ShouldBe(weights);
        }
    }

    [Fact]
    public async Task Haproxy_Killed_IsRestartedWithTheSameWeights()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 1, CancellationToken.None).Within(30);
        await platform.ScaleAsync(spec, _sandbox.Revision(2), 1, CancellationToken.None).Within(30);
        await platform.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [2] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(platform, 1, 1);
        await WaitHealthyAsync(platform, 2, 1);
        var haproxy = platform.ProcessIds().Haproxy!.Value;

        using (var process = Process.GetProcessById(haproxy))
        {
            process.Kill();
        }

        await Sandbox.WaitUntilAsync(() => _sandbox.Events.Any(e => e.Type == PlatformEventTypes.HaproxyRestarted), 15, "HAProxy to be restarted");
        _sandbox.Events.ShouldContain(e => e.Type == PlatformEventTypes.HaproxyDied);
        platform.ProcessIds().Haproxy.ShouldNotBe(haproxy);
        var restarted = _sandbox.Events.First(e => e.Type == PlatformEventTypes.HaproxyRestarted);
        restarted.Gap.ShouldNotBeNull().ShouldBeGreaterThan(TimeSpan.Zero);
        restarted.Pids.ShouldBe((haproxy, platform.ProcessIds().Haproxy!.Value));
        restarted.Services.ShouldBe([spec.Service]);
        restarted.Message.ShouldContain($"HAProxy (pid {haproxy}) died and was restarted");
        await Sandbox.WaitUntilAsync(async () => (await _sandbox.GetAsync(port)) == (200, "2"), 10, "traffic through the new HAProxy");
        (await platform.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).Within(10))
            .ShouldBe(new Dictionary<int, int> { [1] = 0, [2] = 100 });
    }

    [Fact]
    public async Task CheckServiceAsync_ProductionListenerInUse_ThrowsNamingItAndChangesNothing()
    {
        var platform = await _sandbox.StartPlatformAsync();
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var spec = _sandbox.Spec(port);

        var error = await Should.ThrowAsync<PlatformException>(() => platform.CheckServiceAsync(spec, CancellationToken.None).Within(10));

        error.Message.ShouldContain($"the production listener (platform.local.listeners.production) 127.0.0.1:{port} is already in use");
        (await platform.ListAsync(spec.Service, CancellationToken.None).Within(10)).ShouldBeEmpty();
        platform.ProcessIds().Haproxy.ShouldBeNull("nothing was set up");
    }

    [Fact]
    public async Task CheckServiceAsync_ListenerOfTheServiceItself_Passes()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort());
        await platform.EnsureServiceAsync(spec, CancellationToken.None).Within(30);

        // HAProxy listens there for this very service: that is not "in use".
        await platform.CheckServiceAsync(spec, CancellationToken.None).Within(10);
    }

    [Fact]
    public async Task DetachAsync_ThenStartAsync_AdoptsRunningProcessesAndKeepsServing()
    {
        var first = await _sandbox.StartPlatformAsync();
        var port = Sandbox.FreePort();
        var spec = _sandbox.Spec(port);
        await first.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        await first.SetWeightsAsync(spec.Service, Listener.Production, new Dictionary<int, int> { [1] = 100 }, CancellationToken.None).Within(10);
        await WaitHealthyAsync(first, 1, 2);
        await WaitForWeightsAsync(first, spec.Service, 1, 100);
        var (haproxy, instances) = first.ProcessIds();
        using var load = new SteadyLoad(_sandbox, port, requestsPerSecond: 50);

        await first.DetachAsync().Within(30);
        await Task.Delay(300);
        Sandbox.IsAlive(haproxy!.Value).ShouldBeTrue();
        instances.ShouldAllBe(pid => Sandbox.IsAlive(pid));
        var second = await _sandbox.StartPlatformAsync();
        await Task.Delay(500);
        var answers = await load.StopAsync().Within(30);

        second.ProcessIds().Haproxy.ShouldBe(haproxy);
        second.ProcessIds().Instances.Order().ShouldBe(instances.Order());
        var set = (await second.ListAsync(spec.Service, CancellationToken.None).Within(10)).ShouldHaveSingleItem();
        set.DesiredCount.ShouldBe(2);
        set.Instances.ShouldAllBe(i => i.Health == InstanceHealth.Healthy && i.Restarts == 0);
        (await second.GetWeightsAsync(spec.Service, Listener.Production, CancellationToken.None).Within(10)).ShouldBe(new Dictionary<int, int> { [1] = 100 });
        answers.Count.ShouldBeGreaterThan(20);
        answers.Where(a => a.Status != 200).ShouldBeEmpty();
        _sandbox.Events.ShouldContain(e => e.Type == PlatformEventTypes.HaproxyAdopted);

        await second.DisposeAsync().Within(30);

        Sandbox.IsAlive(haproxy.Value).ShouldBeFalse();
        instances.ShouldAllBe(pid => !Sandbox.IsAlive(pid));
        _sandbox.FindOwnProcesses().ShouldBeEmpty();
    }

    [Fact]
    public async Task StartAsync_AfterInstanceDiedWhileDetached_RestartsIt()
    {
        var first = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort());
        await first.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        await WaitHealthyAsync(first, 1, 2);
        var instances = first.ProcessIds().Instances;
        await first.DetachAsync().Within(30);
        using (var process = Process.GetProcessById(instances[0]))
        {
            process.Kill();
            await process.WaitForExitAsync().Within(10);
        }

        var second = await _sandbox.StartPlatformAsync();

        await WaitHealthyAsync(second, 1, 2);
        var statuses = (await second.ListAsync(spec.Service, CancellationToken.None).Within(10)).Single().Instances;
        statuses.Sum(i => i.Restarts).ShouldBe(1);
        second.ProcessIds().Instances.ShouldContain(instances[1]);
        second.ProcessIds().Instances.ShouldNotContain(instances[0]);
    }

    [Fact]
    public async Task DisposeAsync_LeavesNoProcessBehind()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort(), Sandbox.FreePort());
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        await platform.ScaleAsync(spec, _sandbox.Revision(2), 1, CancellationToken.None).Within(30);
        await WaitHealthyAsync(platform, 1, 2);
        var (haproxy, instances) = platform.ProcessIds();
        instances.Count.ShouldBe(3);
        var socket = platform.SocketPath;

        await platform.DisposeAsync().Within(30);

        Sandbox.IsAlive(haproxy!.Value).ShouldBeFalse();
        instances.ShouldAllBe(pid => !Sandbox.IsAlive(pid));
        _sandbox.FindOwnProcesses().ShouldBeEmpty();
        File.Exists(socket).ShouldBeFalse();
    }

    [Fact]
    public async Task StopLeftoversAsync_AfterDetach_StopsEverythingRecorded()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort());
        await platform.ScaleAsync(spec, _sandbox.Revision(1), 2, CancellationToken.None).Within(30);
        var (haproxy, instances) = platform.ProcessIds();
        await platform.DetachAsync().Within(30);

        await LocalPlatform.StopLeftoversAsync(_sandbox.StateDirectory).Within(30);

        Sandbox.IsAlive(haproxy!.Value).ShouldBeFalse();
        instances.ShouldAllBe(pid => !Sandbox.IsAlive(pid));
        _sandbox.FindOwnProcesses().ShouldBeEmpty();
    }

    [Fact]
    public async Task StartAsync_HaproxyMissing_ExplainsHowToInstall()
    {
        var options = _sandbox.Options with { HaproxyPath = Path.Combine(_sandbox.StateDirectory, "no-haproxy") };

        var error = await Should.ThrowAsync<PlatformException>(LocalPlatform.StartAsync(options, TimeProvider.System, CancellationToken.None).Within(30));

        error.Message.ShouldContain("apt-get install -y haproxy");
        error.Message.ShouldContain("2.4");
    }

    [Fact]
    public async Task ScaleAsync_UnknownBuiltinImage_ThrowsAndStartsNothing()
    {
        var platform = await _sandbox.StartPlatformAsync();
        var spec = _sandbox.Spec(Sandbox.FreePort());
        var revision = _sandbox.Revision(1) with { Image = "builtin:nope" };

        var error = await Should.ThrowAsync<PlatformException>(platform.ScaleAsync(spec, revision, 1, CancellationToken.None).Within(30));

        error.Message.ShouldContain("builtin:nope");
        error.Message.ShouldContain("hello");
        platform.ProcessIds().Instances.ShouldBeEmpty();
    }

    private async Task WaitHealthyAsync(LocalPlatform platform, int revision, int count) =>
        await Sandbox.WaitUntilAsync(
            async () => (await platform.ListAsync(_sandbox.Service, CancellationToken.None))
                .SingleOrDefault(s => s.Revision == revision)?.HealthyCount == count,
            30,
            $"{count} healthy instances of revision {revision}");

    private static async Task WaitForWeightsAsync(LocalPlatform platform, string service, int revision, int percent) =>
        await Sandbox.WaitUntilAsync(
            async () => (await platform.GetWeightsAsync(service, Listener.Production, CancellationToken.None)).GetValueOrDefault(revision) == percent,
            10,
            $"revision {revision} at {percent}% in HAProxy");

    private async Task<List<(int Status, string? Revision)>> LoadAsync(int port, int total, int parallel)
    {
        var answers = new List<(int, string?)>();
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= total)
            {
                var answer = await _sandbox.GetAsync(port);
                lock (answers)
                {
                    answers.Add(answer);
                }
            }
        })).Within(120);
        return answers;
    }

    /// <summary>Requests at a steady rate, each on its own, until stopped; answers in the order they were sent.</summary>
    private sealed class SteadyLoad : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<List<(int Status, string? Revision)>> _run;

        public SteadyLoad(Sandbox sandbox, int port, int requestsPerSecond)
        {
            _run = Task.Run(async () =>
            {
                var requests = new List<Task<(int, string?)>>();
                var interval = TimeSpan.FromSeconds(1.0 / requestsPerSecond);
                var stopwatch = Stopwatch.StartNew();
                while (!_stop.IsCancellationRequested)
                {
                    requests.Add(sandbox.GetAsync(port));
                    var due = interval * requests.Count;
                    var wait = due - stopwatch.Elapsed;
                    if (wait > TimeSpan.Zero)
                    {
                        try
                        {
                            await Task.Delay(wait, _stop.Token);
                        }
                        catch (OperationCanceledException)
                        {
                        }
                    }
                }

                return (await Task.WhenAll(requests).Within(30)).ToList();
            });
        }

        public async Task<List<(int Status, string? Revision)>> StopAsync()
        {
            await _stop.CancelAsync();
            return await _run;
        }

        public void Dispose()
        {
            _stop.Cancel();
            _stop.Dispose();
        }
    }
}
