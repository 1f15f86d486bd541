using System.Diagnostics;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.State.Sqlite;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>
/// Backstay as `backstay deploy` runs it, on real time: the SQLite store, the ECS platform pointed at moto through
/// AWS_ENDPOINT_URL, the request facade and the deployment engine loop; plus the task-set agent stand-in.
/// </summary>
public sealed class EcsFlow : IAsyncDisposable
{
    public static readonly TimeSpan DeploymentTimeout = TimeSpan.FromSeconds(60);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "backstay-ecs-tests-" + Guid.NewGuid().ToString("N"));
    private readonly CancellationTokenSource _stop = new();
    private Task? _engine;
    private MotoTaskSetAgent? _agent;

    private EcsFlow(MotoWorld world, EcsPlatformOptions? options)
    {
        World = world;
        Directory.CreateDirectory(_directory);
        Store = new SqliteStateStore(_directory, TimeProvider.System);
        Platform = new EcsPlatform(options ?? new EcsPlatformOptions { LaunchType = "EC2", MetricsTtl = TimeSpan.FromSeconds(1) }, TimeProvider.System);
        Requests = new DeploymentRequests(Store, TimeProvider.System);
    }

    public MotoWorld World { get; }

    public SqliteStateStore Store { get; }

    public EcsPlatform Platform { get; }

    public DeploymentRequests Requests { get; }

    /// <param name="options">The platform's options; by default EC2 and figures reused for 1 s (analysis tests want them soon).</param>
    public static async Task<EcsFlow> StartAsync(string prefix, EcsPlatformOptions? options = null)
    {
        var flow = new EcsFlow(await MotoWorld.CreateAsync(prefix), options);
        await flow.Store.InitializeAsync(CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        flow._agent = new MotoTaskSetAgent(flow.World);
        var engine = new DeploymentEngine(flow.Store, flow.Platform, TimeProvider.System, new EngineOptions
        {
            Owner = "ecs-test",
            PollInterval = TimeSpan.FromMilliseconds(100),
            LeaseTtl = TimeSpan.FromSeconds(10),
        });
        flow._engine = Task.Run(() => engine.RunAsync(flow._stop.Token));
        return flow;
    }

    /// <summary>Records a revision and requests its deployment, as `backstay deploy --image IMAGE` does.</summary>
    public async Task<Deployment> StartDeploymentAsync(ServiceSpec spec, string? image = null, string commit = "abc1234")
    {
        var revision = await Requests.CreateRevisionAsync(spec, image, null, new Provenance { Commit = commit, Branch = "main" }, CancellationToken.None)
            .WaitAsync(MotoWorld.CallTimeout);
        return await Requests.StartAsync(spec, revision, Trigger.Ci, "ci", CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
    }

    public async Task<Deployment> DeployAsync(ServiceSpec spec, string? image = null)
    {
        var deployment = await StartDeploymentAsync(spec, image);
        return await WaitSettledAsync(deployment.Id);
    }

    /// <summary>Waits until the deployment, and the rollback that undoes it if any, have finished; returns the deployment.</summary>
    public async Task<Deployment> WaitSettledAsync(string deploymentId, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DeploymentTimeout;
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var deployment = (await Store.GetDeploymentAsync(deploymentId, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!;
            // A blue/green deployment succeeds with its previous revision warm: settled once the engine has retired it too.
            if (deployment.IsFinished && deployment.WarmRevision is null)
            {
                if (deployment.RolledBackBy is not { } rollbackId
                    || (await Store.GetDeploymentAsync(rollbackId, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout)) is not { IsActive: true })
                {
                    return deployment;
                }
            }

            if (watch.Elapsed > limit)
            {
                var events = await Store.ListEventsAsync(deploymentId, 0, CancellationToken.None);
                throw new TimeoutException($"deployment {deploymentId} still {deployment.State} at step {deployment.CurrentStep} after {limit}: " +
                    string.Join(" | ", events.TakeLast(8).Select(e => $"{e.Type}: {e.Message}")));
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Waits until a condition on the deployment holds.</summary>
    public async Task<Deployment> WaitForAsync(string deploymentId, Func<Deployment, bool> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DeploymentTimeout;
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var deployment = (await Store.GetDeploymentAsync(deploymentId, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout))!;
            if (condition(deployment))
            {
                return deployment;
            }

            if (watch.Elapsed > limit)
            {
                throw new TimeoutException($"{what}: deployment {deploymentId} is {deployment.State} at step {deployment.CurrentStep} after {limit}.");
            }

            await Task.Delay(100);
        }
    }

    public async Task<IReadOnlyList<DeploymentEvent>> EventsAsync(string deploymentId) =>
        await Store.ListEventsAsync(deploymentId, 0, CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_engine is not null)
        {
            await _engine.WaitAsync(TimeSpan.FromSeconds(20));
        }

        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        await Platform.DisposeAsync();
        await Store.DisposeAsync();
        World.Dispose();
        _stop.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
