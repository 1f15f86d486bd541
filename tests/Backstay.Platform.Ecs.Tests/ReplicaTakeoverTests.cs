using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Platform.Ecs.Tests.Moto;
using Backstay.State.Postgres;
using Backstay.State.Postgres.Tests;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// Two real `backstay serve --postgres` processes on one PostgreSQL, each with a state directory of its own, running an
/// ECS service on moto that both can reach. A replica killed with SIGKILL mid-canary is replaced by the other within the
/// lease; one stopped with SIGSTOP past its lease and woken again makes no write to AWS or to the store.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class ReplicaTakeoverTests : IClassFixture<PostgresServer>, IAsyncLifetime
{
    /// <summary>Short, so a takeover happens within a test; the renewal every third of it still has room on a busy machine.</summary>
    private const string LeaseTtl = "3s";

    private const string Canary = "canary: { steps: [ { setWeight: 20 }, { pause: { duration: 20s } }, { setWeight: 60 }, { pause: { duration: 1s } }, { setWeight: 100 } ] }";

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    private readonly PostgresServer _postgres;
    private readonly MotoServer _moto;
    private readonly EcsCli _a = new();
    private readonly EcsCli _b = new();
    private string _database = "";

    public ReplicaTakeoverTests(MotoServer moto, PostgresServer postgres)
    {
        _moto = moto;
        _postgres = postgres;
    }

    public async Task InitializeAsync() => _database = await _postgres.CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        _a.Dispose();
        _b.Dispose();
        await _postgres.DropDatabaseAsync(_database);
    }

    [Fact]
    public async Task Serve_ReplicaKilledMidCanary_OtherReplicaTakesOverWithinTheLeaseAndFinishesWithOneJournal()
    {
        using var world = await MotoWorld.CreateAsync("replica");
        await using var agent = new MotoTaskSetAgent(world);
        _a.WriteSpec(world, Canary);
        await using var a = await ServeProcess.StartAsync(_a, Postgres(_database));
        await using var store = await OpenStoreAsync();
        var id = await StartCanaryUnderAsync(a, store);
        await using var b = await ServeProcess.StartAsync(_b, Postgres(_database));
        using var sse = new SseReader(b);
        (await store.GetDeploymentAsync(id, CancellationToken.None))!.IsActive.ShouldBeTrue("A is still in the canary's 20 s pause");

        a.Kill();
        var killed = Stopwatch.StartNew();
        await WaitForAsync(async () => (await store.GetDeploymentAsync(id, CancellationToken.None))!.Owner == b.Owner, "replica B taking the deployment over", b);
        var takeover = killed.Elapsed;
        var done = await WaitForEndAsync(store, id, b);

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        takeover.ShouldBeLessThan(TimeSpan.FromSeconds(3) * 3 + TimeSpan.FromSeconds(10), "B takes over once A's lease of 3 s runs out (its renewal every second stopped with it)");
        var journal = await store.ListJournalAsync(id, CancellationToken.None);
        var completed = journal.Where(e => e.Phase == StepPhase.Completed).Select(e => e.Step).ToList();
        completed.ShouldBe(completed.Distinct().Order().ToList(), "every step completed once, in order: " + string.Join(", ", journal.Select(e => $"{e.Step}:{e.Phase}")));
        completed.Count.ShouldBe(done.TotalSteps);
        (await world.ListenerWeightsAsync()).Values.Order().ShouldBe([0, 100]);
        await WaitForAsync(() => Task.FromResult(sse.Text.Contains(id, StringComparison.Ordinal) && sse.Text.Contains("\"Succeeded\"", StringComparison.Ordinal)),
            "B's event stream (resumed from the first event) carrying the deployment A started, to its end", b);
        sse.Text.ShouldContain("deploying revision 2 over revision 1", Case.Sensitive, "the Started event, written by A, reached B's stream");

        // A again on its state directory: both replicas answer the same history.
        await using var again = await ServeProcess.StartAsync(_a, Postgres(_database));
        var fromA = await _a.RunAsync("history", world.Service, "--output", "json");
        var fromB = await _b.RunAsync("history", world.Service, "--output", "json");
        fromA.ExitCode.ShouldBe(0, fromA.ToString());
        fromB.ExitCode.ShouldBe(0, fromB.ToString());
        Summary(fromA).ShouldBe(Summary(fromB));
        Summary(fromA).ShouldContain($"{id} Deploy Succeeded");
        RecordTakeover(takeover);
    }

    [Fact]
    public async Task Serve_ReplicaStoppedPastItsLeaseThenWoken_MakesNoWriteToAwsOrTheStore()
    {
        using var world = await MotoWorld.CreateAsync("fence");
        await using var agent = new MotoTaskSetAgent(world);
        _a.WriteSpec(world, Canary);
        await using var a = await ServeProcess.StartAsync(_a, Postgres(_database));
        await using var store = await OpenStoreAsync();
        var id = await StartCanaryUnderAsync(a, store);
        await using var b = await ServeProcess.StartAsync(_b, Postgres(_database));
        (await store.GetDeploymentAsync(id, CancellationToken.None))!.IsActive.ShouldBeTrue("A is still in the canary's 20 s pause");

        a.Signal("STOP");
        var done = await WaitForEndAsync(store, id, b);
        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        done.Owner.ShouldBe(b.Owner);
        var requests = _moto.RequestLog.Count();
        var journal = (await store.ListJournalAsync(id, CancellationToken.None)).Count;
        var events = (await store.ListEventsAsync(id, 0, CancellationToken.None)).Count;

        // Woken, A's timers fire at once: its pause is long over and its lease renewal is late.
        a.Signal("CONT");
        await WaitForAsync(() => Task.FromResult(a.Output.Contains("Lost the lease", StringComparison.Ordinal) || a.Output.Contains("fenced off", StringComparison.Ordinal)),
            "replica A finding it no longer holds the lease", a);

        _moto.RequestLog.Since(requests).Where(r => MotoRequestLog.Mutating.Contains(r.Operation)).ShouldBeEmpty("A made no write to AWS after it woke");
        (await store.ListJournalAsync(id, CancellationToken.None)).Count.ShouldBe(journal);
        (await store.ListEventsAsync(id, 0, CancellationToken.None)).Count.ShouldBe(events);
        (await store.GetDeploymentAsync(id, CancellationToken.None))!.State.ShouldBe(DeploymentState.Succeeded);
        (await world.ListenerWeightsAsync()).Values.Order().ShouldBe([0, 100]);
    }

    [Fact]
    public async Task Serve_LocalServiceOnASharedStore_IsRefusedNamingWhy_AndNothingIsRecorded()
    {
        await using var a = await ServeProcess.StartAsync(_a, Postgres(_database));
        File.WriteAllText(Path.Combine(_a.WorkDirectory, "backstay.yaml"), """
            service: localweb
            platform: { local: { instances: 1, listeners: { production: 127.0.0.1:18093 } } }
            task: { image: builtin:hello }
            """);

        var refused = await _a.RunAsync("deploy", "--output", "json");

        refused.ExitCode.ShouldBe(2, refused.ToString());
        (refused.Stdout + refused.Stderr).ShouldContain("local platform's instances live on one machine");
        await using var store = await OpenStoreAsync();
        (await store.GetServiceAsync("localweb", CancellationToken.None)).ShouldBeNull();
    }

    /// <summary>
    /// Deploys revision 1 and starts the canary to revision 2 through replica A, alone so that A runs it, and waits until
    /// the canary is in its 20 s pause (long enough to start replica B beside it on a busy machine).
    /// </summary>
    private async Task<string> StartCanaryUnderAsync(ServeProcess a, PostgresStateStore store)
    {
        var first = await _a.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json");
        first.ExitCode.ShouldBe(0, first.ToString());
        var started = await _a.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--no-wait", "--output", "json");
        started.ExitCode.ShouldBe(0, started.ToString());
        var id = started.Id;
        await WaitForAsync(async () => (await store.ListJournalAsync(id, CancellationToken.None)).Any(e => e.Action.StartsWith("pause", StringComparison.Ordinal)),
            "the canary reaching its first pause under replica A", a);
        (await store.GetDeploymentAsync(id, CancellationToken.None))!.Owner.ShouldBe(a.Owner);
        return id;
    }

    /// <summary>What a history says of each deployment, in order: id, kind, outcome.</summary>
    private static List<string> Summary(CliRun history) =>
        [.. EnumerateDeployments(history.Json).Select(d => $"{d.GetProperty("id").GetString()} {d.GetProperty("kind").GetString()} {d.GetProperty("outcome").GetString()}")];

    private static IEnumerable<JsonElement> EnumerateDeployments(JsonElement json) =>
        json.ValueKind == JsonValueKind.Array ? json.EnumerateArray() : json.GetProperty("deployments").EnumerateArray();

    private static string[] Postgres(string database) => ["--postgres", database, "--lease-ttl", LeaseTtl];

    private async Task<PostgresStateStore> OpenStoreAsync()
    {
        var store = new PostgresStateStore(_database, TimeProvider.System);
        await store.InitializeAsync(CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        return store;
    }

    private static async Task<Deployment> WaitForEndAsync(PostgresStateStore store, string id, ServeProcess watched)
    {
        Deployment? found = null;
        await WaitForAsync(async () => (found = await store.GetDeploymentAsync(id, CancellationToken.None)) is { IsFinished: true }, $"deployment {id} ending", watched);
        return found!;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what, ServeProcess watched)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition().WaitAsync(MotoWorld.CallTimeout))
        {
            watched.ShouldBeRunning();
            if (clock.Elapsed > Deadline)
            {
                throw new TimeoutException($"waited {Deadline.TotalSeconds:0} s for {what}; replica output:\n{watched.Output}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>bench/replica-takeover runs this test ten times and takes the median of what it appends here.</summary>
    private static void RecordTakeover(TimeSpan takeover)
    {
        if (Environment.GetEnvironmentVariable("BACKSTAY_BENCH_TAKEOVER_FILE") is { Length: > 0 } file)
        {
            File.AppendAllText(file, takeover.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "\n");
        }
    }

    /// <summary>Reads a replica's GET /api/events (Server-Sent Events) in the background.</summary>
    private sealed class SseReader : IDisposable
    {
        private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
        private readonly CancellationTokenSource _stop = new();
        private readonly StringBuilder _text = new();

        public SseReader(ServeProcess replica)
        {
            var token = File.ReadAllText(Path.Combine(replica.StateDirectory, "token")).Trim();
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

            // From the first event on: the deployment was started by the other replica before this one was up.
            _http.DefaultRequestHeaders.Add("Last-Event-ID", "0");
            var url = new Uri(new Uri(ServeProcess.ServerUrl(replica.StateDirectory)!), "api/events");
            _ = Task.Run(() => ReadAsync(url, _stop.Token));
        }

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _http.Dispose();
            _stop.Dispose();
        }

        private async Task ReadAsync(Uri url, CancellationToken cancellationToken)
        {
            try
            {
                await using var stream = await _http.GetStreamAsync(url, cancellationToken);
                using var reader = new StreamReader(stream);
                while (await reader.ReadLineAsync(cancellationToken) is { } line)
                {
                    lock (_text)
                    {
                        _text.AppendLine(line);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException)
            {
                lock (_text)
                {
                    _text.AppendLine($"(stream ended: {ex.Message})");
                }
            }
        }
    }
}
