using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.State.Sqlite;
using Microsoft.Extensions.Logging;

namespace Backstay.Server.Tests;

/// <summary>Starting and stopping hosts of their own: the listen address rule, server.json, and the engine's death.</summary>
[Collection("server")]
public sealed class HostLifecycleTests(ServerFixture server) : IAsyncLifetime
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "bsrv-" + Guid.NewGuid().ToString("N")[..8]);
    private SqliteStateStore _store = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_state);
        _store = new SqliteStateStore(_state, TimeProvider.System);
        await _store.InitializeAsync(CancellationToken.None).Within(30);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync().Within(10);
        Directory.Delete(_state, recursive: true);
    }

    [Theory]
    [InlineData("0.0.0.0:7480")]
    [InlineData("192.0.2.10:7480")]
    [InlineData("[::]:0")]
    public void Build_NonLoopbackWithoutAllowRemote_IsRefused(string listen)
    {
        var (plane, engine) = Parts(_store);
        var error = Should.Throw<ArgumentException>(() => ControllerHost.Build(new ControllerHostOptions { Listen = listen, StateDirectory = _state }, plane, engine));
        error.Message.ShouldContain("not a loopback address");
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("example.com:80")]
    public void Build_MalformedListen_IsRefused(string listen)
    {
        var (plane, engine) = Parts(_store);
        Should.Throw<ArgumentException>(() => ControllerHost.Build(new ControllerHostOptions { Listen = listen, StateDirectory = _state, AllowRemote = true }, plane, engine));
    }

    [Fact]
    public async Task Host_WritesServerJsonWhileListening_ReusesTokens_RemovesItAtStop()
    {
        var serverJson = Path.Combine(_state, "server.json");
        string firstToken;
        var (plane, engine) = Parts(_store);
        await using (var app = ControllerHost.Build(new ControllerHostOptions { Listen = "localhost:0", StateDirectory = _state }, plane, engine, new CapturingLoggerProvider()))
        {
            await app.StartAsync().Within(30);
            var url = ControllerHost.LocalUrl(app)!;
            url.Host.ShouldBe("127.0.0.1");
            (await File.ReadAllTextAsync(serverJson)).ShouldContain(url.ToString().TrimEnd('/'));
            firstToken = await File.ReadAllTextAsync(Path.Combine(_state, "token"));
            using var client = new ApiClient(url, firstToken.Trim());
            (await client.GetAsync("api/services").Within(10)).IsSuccessStatusCode.ShouldBeTrue();
            await app.StopAsync().Within(30);
        }

        File.Exists(serverJson).ShouldBeFalse();
        await using (var again = ControllerHost.Build(new ControllerHostOptions { Listen = "127.0.0.1:0", StateDirectory = _state }, plane, engine, new CapturingLoggerProvider()))
        {
            (await File.ReadAllTextAsync(Path.Combine(_state, "token"))).ShouldBe(firstToken);
        }
    }

    [Fact]
    public async Task EngineLoopDying_IsLoggedCritical_AndStopsTheHost()
    {
        await using var failing = new FailingStore(_store);
        var logs = new CapturingLoggerProvider();
        var (plane, engine) = Parts(failing, logs.CreateLogger("Backstay.Engine"));
        await using var app = ControllerHost.Build(new ControllerHostOptions { Listen = "127.0.0.1:0", StateDirectory = _state }, plane, engine, logs);
        var stopped = new TaskCompletionSource();
        app.Lifetime.ApplicationStopping.Register(() => stopped.TrySetResult());
        await app.StartAsync().Within(30);

        failing.Fail = true;
        await stopped.Task.Within(30);
        await app.StopAsync().Within(30);

        ControllerHost.EngineFailure(app).ShouldBeOfType<OperationCanceledException>();
        logs.Lines.ShouldContain(l => l.Level == LogLevel.Critical && l.Message.Contains("engine died", StringComparison.Ordinal));
        File.Exists(Path.Combine(_state, "server.json")).ShouldBeFalse();
    }

    private (InProcessControlPlane Plane, DeploymentEngine Engine) Parts(IStateStore store, ILogger? logger = null) =>
        (new InProcessControlPlane(store, TimeProvider.System, null, () => true, ownsStore: false),
         new DeploymentEngine(store, server.Platform, TimeProvider.System, new EngineOptions { Owner = "lifecycle-test" }, logger));

    /// <summary>A store whose active-deployment query can be made to throw a stray cancellation: the one error the engine loop does not survive.</summary>
    private sealed class FailingStore(IStateStore inner) : IStateStore
    {
        public volatile bool Fail;

        public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) =>
            Fail ? throw new OperationCanceledException("a stray cancellation from a broken store") : inner.ListActiveDeploymentsAsync(cancellationToken);

        public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);
        public Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken) => inner.GetServiceAsync(name, cancellationToken);
        public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) => inner.ListServicesAsync(cancellationToken);
        public Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken) => inner.UpsertServiceAsync(service, cancellationToken);
        public Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken) => inner.AddRevisionAsync(revision, cancellationToken);
        public Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken) => inner.GetRevisionAsync(service, number, cancellationToken);
        public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) => inner.ListRevisionsAsync(service, cancellationToken);
        public Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken) => inner.MarkRevisionRemovedAsync(service, number, cancellationToken);
        public Task CreateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken) => inner.CreateDeploymentAsync(deployment, cancellationToken);
        public Task CreateRollbackAsync(Deployment rollback, Deployment undone, CancellationToken cancellationToken) => inner.CreateRollbackAsync(rollback, undone, cancellationToken);
        public Task UpdateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken) => inner.UpdateDeploymentAsync(deployment, cancellationToken);
        public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken) => inner.GetDeploymentAsync(id, cancellationToken);
        public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken) => inner.ListDeploymentsAsync(service, limit, cancellationToken);
        public Task<DeploymentEvent> AppendEventAsync(DeploymentEvent deploymentEvent, CancellationToken cancellationToken) => inner.AppendEventAsync(deploymentEvent, cancellationToken);
        public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken) => inner.ListEventsAsync(deploymentId, afterSequence, cancellationToken);
        public Task<DeploymentCommand> EnqueueCommandAsync(DeploymentCommand command, CancellationToken cancellationToken) => inner.EnqueueCommandAsync(command, cancellationToken);
        public Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(string deploymentId, CancellationToken cancellationToken) => inner.TakeCommandsAsync(deploymentId, cancellationToken);
        public Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken) => inner.AppendJournalAsync(entry, cancellationToken);
        public Task<IReadOnlyList<JournalEntry>> ListJournalAsync(string deploymentId, CancellationToken cancellationToken) => inner.ListJournalAsync(deploymentId, cancellationToken);
        public Task<bool> TryAcquireLeaseAsync(string key, string owner, TimeSpan ttl, CancellationToken cancellationToken) => inner.TryAcquireLeaseAsync(key, owner, ttl, cancellationToken);
        public Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken) => inner.ReleaseLeaseAsync(key, owner, cancellationToken);
        public Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken) => inner.GetLeaseGenerationAsync(key, owner, cancellationToken);
        public Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken) => inner.SaveHookRunAsync(run, cancellationToken);
        public Task CreateReleaseAsync(Core.Releases.Release release, CancellationToken cancellationToken) => inner.CreateReleaseAsync(release, cancellationToken);
        public Task<bool> UpdateReleaseAsync(Core.Releases.Release release, CancellationToken cancellationToken) => inner.UpdateReleaseAsync(release, cancellationToken);
        public Task<Core.Releases.Release?> GetReleaseAsync(string id, CancellationToken cancellationToken) => inner.GetReleaseAsync(id, cancellationToken);
        public Task<IReadOnlyList<Core.Releases.Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken) => inner.ListReleasesAsync(limit, cancellationToken);
        public Task<IReadOnlyList<Core.Releases.Release>> ListActiveReleasesAsync(CancellationToken cancellationToken) => inner.ListActiveReleasesAsync(cancellationToken);
        public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) => inner.ListHookRunsAsync(deploymentId, cancellationToken);
        public Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken) => inner.SaveObservationAsync(observation, cancellationToken);
        public Task SaveObservationsAsync(IReadOnlyList<Observation> observations, CancellationToken cancellationToken) => inner.SaveObservationsAsync(observations, cancellationToken);
        public Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken) => inner.GetObservationAsync(service, cancellationToken);
        public Task AppendSeriesAsync(IReadOnlyList<SeriesPoint> points, CancellationToken cancellationToken) => inner.AppendSeriesAsync(points, cancellationToken);
        public Task<IReadOnlyList<SeriesPoint>> ListSeriesAsync(string deploymentId, DateTimeOffset? after, CancellationToken cancellationToken) => inner.ListSeriesAsync(deploymentId, after, cancellationToken);
        public Task DeleteSeriesAsync(string deploymentId, CancellationToken cancellationToken) => inner.DeleteSeriesAsync(deploymentId, cancellationToken);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
