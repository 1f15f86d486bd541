using System.Diagnostics;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>One engine loop running in the background on the harness's fake clock.</summary>
public sealed class RunningEngine(DeploymentEngine engine, string owner, CancellationTokenSource cancellation, Task loop)
{
    public DeploymentEngine Engine { get; } = engine;

    public string Owner { get; } = owner;

    public Task Loop { get; } = loop;

    /// <summary>Simulates the process dying: the token is cancelled on the calling thread, so the next store call throws.</summary>
    public void Kill() => cancellation.Cancel();

    public async Task StopAsync()
    {
        await cancellation.CancelAsync();
        await Loop.WaitAsync(EngineHarness.RealTimeout);
        cancellation.Dispose();
    }
}

/// <summary>
/// Runs the deployment engine against the in-memory store and fake platform on a fake clock: the clock moves in small
/// steps with a short real pause between them until a condition holds, within a fake-time and a real-time limit.
/// </summary>
public sealed class EngineHarness : IAsyncDisposable
{
    public const string ServiceName = "web";

    /// <summary>The most real time any single wait of a test may take.</summary>
    public static readonly TimeSpan RealTimeout = TimeSpan.FromSeconds(20);

    private readonly List<RunningEngine> _engines = [];

    public EngineHarness()
    {
        Store = new InMemoryStateStore(Time);
        Platform = new FakePlatform(Time);
        Requests = new DeploymentRequests(Store, Time);
    }

    public ManualTimeProvider Time { get; } = new();

    public InMemoryStateStore Store { get; }

    public FakePlatform Platform { get; }

    /// <summary>The request facade, as the CLI and the server use it.</summary>
    public DeploymentRequests Requests { get; }

    /// <summary>How far the fake clock moves per step.</summary>
    public TimeSpan Step { get; init; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(2);

    public DeploymentEngine CreateEngine(string owner) => new(Store, Platform, Time, new EngineOptions
    {
        Owner = owner,
        PollInterval = TimeSpan.FromMilliseconds(100),
        LeaseTtl = LeaseTtl,
    });

    /// <summary>Starts an engine loop and returns once its first pass is done and it waits on the clock, so later passes happen only as the clock moves.</summary>
    public async Task<RunningEngine> StartEngineAsync(string owner = "engine-a")
    {
        var engine = CreateEngine(owner);
        var waiting = Time.ScheduledTimers;
        var cancellation = new CancellationTokenSource();
        var loop = Task.Run(() => engine.RunAsync(cancellation.Token));
        var running = new RunningEngine(engine, owner, cancellation, loop);
        _engines.Add(running);
        var real = Stopwatch.StartNew();
        while (Time.ScheduledTimers <= waiting && !loop.IsCompleted)
        {
            if (real.Elapsed > RealTimeout)
            {
                throw new TimeoutException($"engine {owner} did not start within {RealTimeout}.");
            }

            await Task.Delay(1);
        }

        return running;
    }

    /// <summary>Moves the fake clock until the condition holds; fails after fakeLimit of fake time or <see cref="RealTimeout"/> of real time.</summary>
    public async Task RunUntilAsync(Func<bool> condition, TimeSpan fakeLimit, string what)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var real = Stopwatch.StartNew();
        var limit = Time.GetUtcNow() + fakeLimit;
        while (!condition())
        {
            if (Time.GetUtcNow() >= limit)
            {
                throw new TimeoutException($"{what}: not reached within {fakeLimit} of fake time.{Describe()}");
            }

            if (real.Elapsed > RealTimeout)
            {
                throw new TimeoutException($"{what}: not reached within {RealTimeout} of real time.{Describe()}");
            }

            await StepAsync();
        }
    }

    /// <summary>Moves the fake clock by a span, step by step, letting the engine act at each step.</summary>
    public async Task AdvanceAsync(TimeSpan span)
    {
        var until = Time.GetUtcNow() + span;
        await RunUntilAsync(() => Time.GetUtcNow() >= until, span + Step, $"advance {span}");
    }

    /// <summary>Runs until the deployment, and the rollback that undoes it if there is one, have finished.</summary>
    public async Task<Deployment> RunToEndAsync(string deploymentId, TimeSpan? fakeLimit = null)
    {
        await RunUntilAsync(() => IsSettled(deploymentId), fakeLimit ?? TimeSpan.FromMinutes(2), $"deployment {deploymentId} finishing");
        return Store.Deployment(deploymentId);
    }

    /// <summary>Records a revision from the spec and requests its deployment, as `backstay deploy` does.</summary>
    public async Task<Deployment> StartAsync(ServiceSpec spec, Action<int>? prepare = null)
    {
        var revision = await Requests.CreateRevisionAsync(spec, image: null, env: null, new Provenance { Commit = "abc123" }, CancellationToken.None)
            .WaitAsync(RealTimeout);
        prepare?.Invoke(revision.Number);
        return await Requests.StartAsync(spec, revision, Trigger.Ci, "ci", CancellationToken.None).WaitAsync(RealTimeout);
    }

    /// <summary>Deploys a revision and runs the engine until the deployment has finished.</summary>
    public async Task<Deployment> DeployAsync(ServiceSpec spec, Action<int>? prepare = null)
    {
        var deployment = await StartAsync(spec, prepare);
        return await RunToEndAsync(deployment.Id);
    }

    public Deployment? RollbackOf(string deploymentId) =>
        Store.AllDeployments.SingleOrDefault(d => d.Kind == DeploymentKind.Rollback && d.RollbackOf == deploymentId);

    public async ValueTask DisposeAsync()
    {
        foreach (var engine in _engines)
        {
            if (!engine.Loop.IsCompleted)
            {
                await engine.StopAsync();
            }
        }

        await Store.DisposeAsync();
        await Platform.DisposeAsync();
    }

    private bool IsSettled(string deploymentId)
    {
        var deployment = Store.Deployment(deploymentId);
        if (deployment.IsActive)
        {
            return false;
        }

        return deployment.RolledBackBy is not { } rollbackId
            || Store.AllDeployments.FirstOrDefault(d => d.Id == rollbackId) is not { IsActive: true };
    }

    private async Task StepAsync()
    {
        var waiting = Time.ScheduledTimers;
        Time.Advance(Step);
        await Task.Delay(1);

        // Work resumed by the step ends by waiting on the clock again; give it a moment to get there.
        var settle = Stopwatch.StartNew();
        while (Time.ScheduledTimers < waiting && settle.ElapsedMilliseconds < 20)
        {
            await Task.Delay(1);
        }
    }

    private string Describe() =>
        string.Concat(Store.AllDeployments.Select(d =>
            $"{Environment.NewLine}  {d.Id} {d.Kind} {d.State} step {d.CurrentStep}/{d.TotalSteps} {d.StepPhase} weight {d.TargetWeight}: {d.Reason}"));
}

/// <summary>Specs for engine tests: service "web" on the local platform, short timeouts.</summary>
public static class Specs
{
    public static ServiceSpec Service(StrategySpec? strategy = null, int instances = 3, string? testListener = null,
        AnalysisSpec? analysis = null, RollbackSpec? rollback = null, int keepPrevious = 3) => new()
    {
        Service = EngineHarness.ServiceName,
        Platform = new PlatformSpec { Local = new LocalPlatformSpec { Instances = instances, TestListener = testListener } },
        Task = new TaskSpec { Image = "builtin:hello", StartTimeout = TimeSpan.FromSeconds(5) },
        Strategy = strategy ?? new StrategySpec { Rolling = new RollingSpec() },
        Analysis = analysis ?? new AnalysisSpec(),
        Rollback = rollback ?? new RollbackSpec(),
        Retention = new RetentionSpec { KeepPrevious = keepPrevious },
    };

    public static StrategySpec Rolling(int batch = 1) => new() { Rolling = new RollingSpec { Batch = batch } };

    public static StrategySpec BlueGreen(TimeSpan bake, TimeSpan keepPreviousFor, bool testTraffic = true) =>
        new() { BlueGreen = new BlueGreenSpec { TestTraffic = testTraffic, Bake = bake, KeepPreviousFor = keepPreviousFor } };

    public static StrategySpec Canary(params CanaryStep[] steps) => new() { Canary = new CanarySpec { Steps = steps } };

    public static StrategySpec Linear(int stepPercent, TimeSpan interval) =>
        new() { Linear = new LinearSpec { StepPercent = stepPercent, Interval = interval } };

    public static StrategySpec Phased(TimeSpan pauseBetween, params int[] phases) =>
        new() { Phased = new PhasedSpec { Phases = phases, PauseBetween = pauseBetween } };

    public static SetWeightStep Weight(int weight) => new(weight);

    public static PauseStep Pause(TimeSpan? duration = null) => new(duration);

    public static PauseStep PauseMs(int milliseconds) => new(TimeSpan.FromMilliseconds(milliseconds));
}
