using System.Text.Json;
using Backstay.Cli.Infrastructure;
using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Spectre.Console;

namespace Backstay.Cli.Tests;

/// <summary>
/// How `deploy`, `continue` and `rollback` follow a deployment: every event once as a line and, on a terminal, one live
/// line under them that is redrawn in place and never shows older figures than an event printed above it.
/// </summary>
public sealed class LiveProgressTests
{
    private const string Erase = "\r\u001b[2K";
    private static readonly DateTimeOffset Start = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// The engine records "3/3 instances of revision 2 healthy" with the progress that says so written first; whichever
    /// of the follower's reads it lands between, the live line after that event never shows "healthy r2 0/3".
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task Watcher_EventStatingHealthyInstances_IsNeverFollowedByOlderFigures(int landsAtRead)
    {
        var store = new ScriptedControlPlane(Running(healthy: 0), [Event(1, "Scaled", "revision 2 scaled to 3")]);
        store.At(landsAtRead, s =>
        {
            s.Deployment = Running(healthy: 3);
            s.Append("InstancesHealthy", "3/3 instances of revision 2 healthy");
        });
        store.At(landsAtRead + 4, s =>
        {
            s.Deployment = Running(healthy: 3) with { State = DeploymentState.Succeeded, CurrentStep = 3 };
            s.Append("Succeeded", "revision 2 serves all traffic");
        });
        var (console, output) = Terminal(width: 200);

        var final = await new DeploymentWatcher(store, console).WaitAsync("d-1", stopOnPause: false, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        final.State.ShouldBe(DeploymentState.Succeeded);
        var text = output.ToString();
        var healthy = text.IndexOf("3/3 instances of revision 2 healthy", StringComparison.Ordinal);
        healthy.ShouldBeGreaterThan(0, text);
        text.LastIndexOf("3/3 instances of revision 2 healthy", StringComparison.Ordinal).ShouldBe(healthy, "each event is printed once");
        text[healthy..].ShouldNotContain("healthy r2 0/3", customMessage: text);
    }

    [Fact]
    public void Renderer_OnATerminal_ClearsTheLiveLineBeforeEachEventAndRedrawsItUnder()
    {
        var (console, output) = Terminal(width: 200);
        var renderer = new ProgressRenderer(console, new FixedTime(Start.AddSeconds(75)));

        renderer.Show([Event(1, "Started", "deployment started")], [Running(healthy: 1)]);
        renderer.Show([], [Running(healthy: 2)]);
        renderer.Show([Event(2, "InstancesHealthy", "3/3 instances of revision 2 healthy")], [Running(healthy: 3)]);
        renderer.Clear();

        var text = output.ToString();
        var live1 = text.IndexOf("healthy r2 1/3", StringComparison.Ordinal);
        var live2 = text.IndexOf("healthy r2 2/3", StringComparison.Ordinal);
        var healthyEvent = text.IndexOf("3/3 instances of revision 2 healthy", StringComparison.Ordinal);
        var live3 = text.IndexOf("healthy r2 3/3", StringComparison.Ordinal);
        text.IndexOf("deployment started", StringComparison.Ordinal).ShouldBeLessThan(live1);
        live1.ShouldBeLessThan(live2);
        live2.ShouldBeLessThan(healthyEvent);
        healthyEvent.ShouldBeLessThan(live3);
        text[live2..healthyEvent].ShouldContain(Erase, customMessage: "the live line is erased before the event line is printed");
        text[live2..healthyEvent].ShouldNotContain("\n", customMessage: "the live line is redrawn in place, not scrolled");
        text.ShouldEndWith(Erase, customMessage: "the live line is gone when following ends");
        text.Split('\n').Count(l => l.Contains("instances of revision 2 healthy", StringComparison.Ordinal)).ShouldBe(1);

        var line = ProgressRenderer.LiveLine([Running(healthy: 3)], Start.AddSeconds(75))!;
        line.ShouldContain("in progress");
        line.ShouldContain("step 2/3 set weight 10%");
        line.ShouldContain("traffic r2 10% / r1 90%");
        line.ShouldContain("healthy r2 3/3, r1 3/3");
        line.ShouldContain("1m15s");
    }

    [Fact]
    public void Renderer_NarrowTerminal_CutsTheLiveLineToTheWidth()
    {
        var (console, output) = Terminal(width: 40);
        var renderer = new ProgressRenderer(console, new FixedTime(Start.AddSeconds(5)));

        renderer.Show([], [Running(healthy: 2)]);

        var drawn = output.ToString().Split(Erase)[^1];
        drawn.ShouldNotContain("\n");
        drawn.Length.ShouldBeLessThan(40);
        drawn.ShouldEndWith("…");
    }

    [Fact]
    public void Renderer_TerminalTooNarrowForStepNames_KeepsTheFiguresAndDropsTheName()
    {
        var (console, output) = Terminal(width: 80);
        var renderer = new ProgressRenderer(console, new FixedTime(Start.AddSeconds(5)));

        renderer.Show([], [Running(healthy: 2)]);

        var drawn = output.ToString().Split(Erase)[^1];
        drawn.ShouldBe("in progress | step 2/3 | traffic r2 10% / r1 90% | healthy r2 2/3, r1 3/3 | 5s");
    }

    [Fact]
    public void Renderer_NotATerminal_PrintsEventsOnlyWithoutEscapeCodes()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
        });
        var renderer = new ProgressRenderer(console, new FixedTime(Start.AddSeconds(5)));

        renderer.Show([Event(1, "Started", "deployment started")], [Running(healthy: 1)]);
        renderer.Show([Event(2, "InstancesHealthy", "3/3 instances of revision 2 healthy")], [Running(healthy: 3)]);
        renderer.Clear();

        var text = output.ToString();
        text.ShouldNotContain("\u001b");
        text.ShouldNotContain("\r");
        text.ShouldNotContain("healthy r2");
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(2);
    }

    private static (IAnsiConsole Console, StringWriter Output) Terminal(int width)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = width;
        return (console, output);
    }

    private static Deployment Running(int healthy) => new()
    {
        Id = "d-1",
        Service = "hello",
        Strategy = "canary",
        State = DeploymentState.InProgress,
        StableRevision = 1,
        TargetRevision = 2,
        TargetWeight = 10,
        CurrentStep = 1,
        TotalSteps = 3,
        CreatedAt = Start,
        PlanJson = new DeploymentPlan
        {
            Spec = SpecLoader.Parse("service: hello\nplatform: { local: { instances: 3 } }\ntask: { image: builtin:hello }\n", "backstay.yaml"),
            Actions = [new ScaleAction(Role.Target, 3, WaitHealthy: true), new WeightAction(10), new WeightAction(100)],
        }.ToJson(),
        ProgressJson = JsonSerializer.Serialize(new DeploymentProgress
        {
            TargetWeight = 10, TargetHealthy = healthy, TargetDesired = 3, StableHealthy = 3, StableDesired = 3,
        }, new JsonSerializerOptions(JsonSerializerDefaults.Web)),
    };

    private static DeploymentEvent Event(long sequence, string type, string message) =>
        new() { Sequence = sequence, DeploymentId = "d-1", At = Start.AddSeconds(sequence), Type = type, Message = message };

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    /// <summary>
    /// A store the engine writes to between the follower's reads: each write is set to land at the start of a numbered
    /// read (1 is the follower's first read of deployment or events).
    /// </summary>
    private sealed class ScriptedControlPlane(Deployment deployment, IEnumerable<DeploymentEvent> events) : IControlPlane
    {
        private readonly List<DeploymentEvent> _events = [.. events];
        private readonly Dictionary<int, Action<ScriptedControlPlane>> _writes = [];
        private int _reads;

        public Deployment Deployment { get; set; } = deployment;

        public void At(int read, Action<ScriptedControlPlane> write) => _writes[read] = write;

        public void Append(string type, string message) => _events.Add(Event(_events.Count + 1, type, message));

        private void Read()
        {
            lock (_writes)
            {
                if (_writes.TryGetValue(++_reads, out var write))
                {
                    write(this);
                }
            }
        }

        public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken)
        {
            Read();
            return Task.FromResult<Deployment?>(id == Deployment.Id ? Deployment : null);
        }

        public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken)
        {
            Read();
            return Task.FromResult<IReadOnlyList<DeploymentEvent>>([.. _events.Where(e => e.DeploymentId == deploymentId && e.Sequence > afterSequence)]);
        }

        public Task<Deployment> DeployAsync(DeployRequest request, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Deployment> RollbackAsync(string service, int? toRevision, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Deployment> ContinueAsync(string deploymentId, string? hookId, bool full, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Deployment> StopAsync(string deploymentId, bool rollback, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Deployment> ResetAsync(string service, ResetMode mode, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Core.Releases.Release> StartReleaseAsync(Core.Releases.ReleaseRequest request, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Core.Releases.Release?> GetReleaseAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<Core.Releases.Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Core.Releases.Release> RollbackReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Core.Releases.Release> ContinueReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Core.Releases.Release> StopReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ReleaseStatus> AcknowledgeAsync(string service, string? note, string requestedBy, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<string>> DriftAsync(string service, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<bool> ControllerRunningAsync(CancellationToken cancellationToken) => Task.FromResult(true);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
