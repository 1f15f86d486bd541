using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Tests.Moto;
using Backstay.State.Sqlite;

namespace Backstay.Bench.Aws;

/// <summary>
/// backstay-bench-aws --calls: AWS calls per minute of deployment while a deployment waits (a blue/green bake, canary
/// pauses, a native rolling deployment ECS leaves waiting), for one or two builds of the CLI (before and after a
/// change), and 100 deployments at once in one process (as `backstay serve` runs them) behind a stand-in for AWS's
/// throttling. Writes bench/results-aws-calls.md (or --out) and its JSON beside it under out/.
/// </summary>
internal sealed class CallRateRunner(CallOptions options)
{
    private const string V1 = "public.ecr.aws/nginx/nginx:1.26";
    private const string V2 = "public.ecr.aws/nginx/nginx:1.27";

    private readonly MotoLog _log = new();
    private readonly List<string> _problems = [];
    private readonly List<CallRow> _rows = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private ConcurrentResult? _concurrent;
    private string _work = "";
    private string _recording = "";
    private MotoServer? _moto;

    private static void Log(string message) => Console.Error.WriteLine($"[bench-aws calls {DateTime.UtcNow:HH:mm:ss}] {message}");

    /// <summary>The long-phase strategies: each waits <see cref="CallOptions.Phase"/> in all, so steady reads dominate.</summary>
    public static IReadOnlyList<(string Name, string Yaml)> Scenarios(TimeSpan phase)
    {
        var p = (int)phase.TotalSeconds;
        return
        [
            ("blueGreen", $"blueGreen: {{ testTraffic: true, bake: {p}s, keepPreviousFor: 2s }}"),
            ("canary", $"canary: {{ steps: [ {{ setWeight: 20 }}, {{ pause: {{ duration: {p / 2}s }} }}, {{ setWeight: 50 }}, {{ pause: {{ duration: {p / 2}s }} }}, {{ setWeight: 100 }} ] }}"),
            ("rolling", "rolling: { batch: 1 }"),
        ];
    }

    public async Task<int> RunAsync()
    {
        var machine = Machine.Describe(options.Cli);
        _work = Directory.CreateTempSubdirectory("backstay-bench-aws-calls-").FullName;
        Environment.SetEnvironmentVariable("MOTO_ENABLE_RECORDING", "true");
        var clis = new List<(string Label, string Path)>();
        if (options.CliBefore is { } before)
        {
            clis.Add(("before", before));
        }

        clis.Add(("after", options.Cli));
        try
        {
            _moto = new MotoServer();
            await _moto.InitializeAsync();
            _recording = _moto.RequestLog.Path;
            Log($"moto {_moto.Endpoint}, recording to {_recording}");
            for (var run = 1; run <= options.Runs; run++)
            {
                foreach (var (label, path) in clis)
                {
                    foreach (var (strategy, yaml) in Scenarios(options.Phase))
                    {
                        _rows.Add(await CliScenarioAsync(label, path, strategy, yaml, run));
                    }
                }
            }

            if (options.Concurrent > 0)
            {
                _concurrent = await ConcurrentAsync(options.Concurrent);
            }
        }
        catch (Exception ex)
        {
            _problems.Add($"the runner stopped: {ex.GetType().Name}: {ex.Message}");
            Log(ex.ToString());
        }
        finally
        {
            if (_moto is not null)
            {
                await _moto.DisposeAsync();
            }
        }

        var markdown = Markdown(machine, clis);
        Directory.CreateDirectory(Path.GetDirectoryName(options.Out)!);
        await File.WriteAllTextAsync(options.Out, markdown);
        var raw = Path.Combine(Path.GetDirectoryName(options.Out)!, "out", Path.GetFileNameWithoutExtension(options.Out) + ".json");
        Directory.CreateDirectory(Path.GetDirectoryName(raw)!);
        await File.WriteAllTextAsync(raw, JsonSerializer.Serialize(new { rows = _rows, concurrent = _concurrent, problems = _problems }, new JsonSerializerOptions { WriteIndented = true }));
        Log($"wrote {options.Out} and {raw} in {_clock.Elapsed.TotalSeconds:0} s");
        if (_problems.Count == 0)
        {
            try
            {
                Directory.Delete(_work, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        foreach (var problem in _problems)
        {
            Console.Error.WriteLine($"[bench-aws calls] problem: {problem}");
        }

        return _problems.Count > 0 ? 1 : 0;
    }

    /// <summary>
    /// One CLI process measured by moto's log (its own access key): blue/green and canary deploy a second revision over a
    /// first (not measured) and run to the end; rolling is the first deployment on a plain moto, which leaves it waiting, killed after the phase.
    /// </summary>
    private async Task<CallRow> CliScenarioAsync(string label, string cliPath, string strategy, string yaml, int run)
    {
        Log($"{label}: {strategy} run {run}");
        var cli = new CliProcess(cliPath);
        using var service = await BenchService.CreateAsync($"c{label[0]}-{strategy.ToLowerInvariant()}", _work, images: 2);
        await using var agent = new MotoTaskSetAgent(service.World);
        service.WriteSpec(strategy);
        var spec = Path.Combine(service.WorkDirectory, "backstay.yaml");
        var text = await File.ReadAllTextAsync(spec);
        await File.WriteAllTextAsync(spec, text.Replace(Strategies.Yaml[strategy], yaml, StringComparison.Ordinal));
        var native = Strategies.NativeRolling(strategy);
        if (!native)
        {
            var first = await cli.RunAsync(service.WorkDirectory, TimeSpan.FromSeconds(180), "deploy", "--image", service.Image(1), "--output", "json");
            if (first.ExitCode != 0)
            {
                _problems.Add($"{label} {strategy}: the first deployment did not succeed: {first.Brief}");
            }
        }

        var limit = native ? options.Phase : options.Phase + TimeSpan.FromSeconds(180);
        var result = await cli.RunAsync(service.WorkDirectory, limit, "deploy", "--image", service.Image(native ? 1 : 2), "--output", "json");
        if (native ? !result.TimedOut : result.Outcome != "Succeeded")
        {
            _problems.Add($"{label} {strategy}: expected {(native ? "to be left waiting" : "Succeeded")}, got {result.Outcome}; {result.Brief}");
        }

        cli.KillAll();
        _log.Add(_recording);
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            using var reset = await http.PostAsync(new Uri(_moto!.Endpoint, "/moto-api/recorder/reset-recording"), null);
        }

        var ops = _log.For(result.Key);
        var m = new Measurement { Strategy = strategy, Case = label, Run = run, Cli = result, Moto = ops };
        var row = new CallRow(label, strategy, run, result.Outcome, result.WallMs / 1000, m.DeploymentMs / 1000, ops.Values.Sum(),
            ops.Where(kv => !Results.IsRead(kv.Key)).Sum(kv => kv.Value), ops.Where(kv => Results.IsRead(kv.Key)).Sum(kv => kv.Value),
            m.BackstayTotal, ops.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
        Log($"  {label} {strategy}: {row.Outcome}, {row.Calls} calls in {row.WallSeconds:0.0} s = {row.CallsPerMinute:0} per minute ({row.ReadsPerMinute:0} reads)");
        return row;
    }

    /// <summary>
    /// N blue/green deployments at once in one process, as `backstay serve` runs them: one SQLite store, one ECS platform
    /// (its paced reads and the process's rate limits), one engine; every AWS request goes through <see cref="SimulatedThrottle"/>.
    /// The first deployments (which create the services) run first, all at once too, and are reported apart.
    /// </summary>
    private async Task<ConcurrentResult> ConcurrentAsync(int n)
    {
        Log($"{n} deployments at once in one process (blue/green, bake {options.Phase.TotalSeconds:0} s)");
        var worlds = new List<MotoWorld>();
        var directory = Path.Combine(_work, "concurrent");
        Directory.CreateDirectory(directory);
        var setup = Stopwatch.StartNew();
        using (var gate = new SemaphoreSlim(4))
        {
            worlds.AddRange(await Task.WhenAll(Enumerable.Range(0, n).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    return await MotoWorld.CreateAsync($"p{i:D3}");
                }
                finally
                {
                    gate.Release();
                }
            })));
        }

        Log($"  {n} worlds set up in {setup.Elapsed.TotalSeconds:0} s");
        using var throttle = new SimulatedThrottle();
        using var limits = new AwsRateLimits(AwsRateLimits.Defaults);
        await using var store = new SqliteStateStore(directory, TimeProvider.System);
        await store.InitializeAsync(CancellationToken.None);
        await using var platform = new EcsPlatform(new EcsPlatformOptions { LaunchType = "EC2", Aws = new AwsClientOptions { RateLimits = limits } },
            TimeProvider.System, logger: null, handler: throttle);
        var requests = new DeploymentRequests(store, TimeProvider.System);
        using var stop = new CancellationTokenSource();
        var engine = new DeploymentEngine(store, platform, TimeProvider.System, new EngineOptions { Owner = "bench", LeaseTtl = TimeSpan.FromSeconds(30) });
        var running = Task.Run(() => engine.RunAsync(stop.Token));
        await using var agent = new MotoTaskSetAgent([.. worlds]);
        try
        {
            var specs = worlds.Select(w =>
            {
                var spec = w.Spec(new StrategySpec { BlueGreen = new BlueGreenSpec { TestTraffic = true, Bake = options.Phase, KeepPreviousFor = TimeSpan.FromSeconds(2) } });
                return spec with { Task = spec.Task with { StartTimeout = TimeSpan.FromMinutes(5) } };
            }).ToList();

            var first = await BatchAsync(requests, store, specs, V1, "first deployments");
            var throttledFirst = throttle.Throttled;
            var waitsFirst = limits.Waits;
            throttle.Reset();
            platform.ResetApiCallCounts();
            var waitsBefore = limits.Waits;
            var waitedBefore = limits.Waited;
            var throttledBefore = limits.Throttled;
            var putOffBefore = limits.PutOff;
            var measured = await BatchAsync(requests, store, specs, V2, "measured deployments");
            var calls = platform.ApiCalls;
            var perSecond = throttle.Sent.GroupBy(kv => kv.Key.Second).Select(g => g.Sum(kv => kv.Value)).ToList();
            var groups = throttle.Sent.GroupBy(kv => kv.Key.Group).Select(g =>
            {
                var bySecond = g.GroupBy(kv => kv.Key.Second).Select(s => s.Sum(kv => kv.Value)).ToList();
                var limit = AwsRateLimits.Defaults.FirstOrDefault(l => $"{l.SigningName} {l.Bucket}" == g.Key);
                return new GroupRate(g.Key, g.Sum(kv => kv.Value), bySecond.Max(), limit?.PerSecond, limit?.Burst);
            }).OrderByDescending(g => g.Calls).ToList();
            return new ConcurrentResult(n, options.Phase.TotalSeconds, setup.Elapsed.TotalSeconds, first, throttledFirst, waitsFirst, measured,
                calls.Values.Sum(), calls.Where(kv => Results.IsRead(kv.Key)).Sum(kv => kv.Value), calls.Where(kv => !Results.IsRead(kv.Key)).Sum(kv => kv.Value),
                perSecond.Count == 0 ? 0 : perSecond.Sum() / (double)Math.Max(1, perSecond.Count), perSecond.DefaultIfEmpty(0).Max(),
                throttle.Throttled, new Dictionary<string, int>(throttle.ThrottledByGroup), limits.Throttled - throttledBefore, limits.Waits - waitsBefore,
                (limits.Waited - waitedBefore).TotalSeconds, limits.PutOff - putOffBefore, groups,
                calls.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await running.WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
            {
                _problems.Add($"the engine did not stop within 60 s: {ex.Message}");
            }

            foreach (var world in worlds)
            {
                world.Dispose();
            }
        }
    }

    /// <summary>Starts every service's deployment of the image at once and waits until all have finished.</summary>
    private async Task<BatchResult> BatchAsync(DeploymentRequests requests, SqliteStateStore store, List<ServiceSpec> specs, string image, string what)
    {
        var watch = Stopwatch.StartNew();
        var ids = new List<string>();
        foreach (var spec in specs)
        {
            var revision = await requests.CreateRevisionAsync(spec, image, null, new Provenance { Commit = "abc1234", Branch = "main" }, CancellationToken.None);
            ids.Add((await requests.StartAsync(spec, revision, Trigger.Ci, "bench", CancellationToken.None)).Id);
        }

        var limit = TimeSpan.FromMinutes(20);
        List<Deployment> done;
        while (true)
        {
            done = [];
            foreach (var id in ids)
            {
                done.Add((await store.GetDeploymentAsync(id, CancellationToken.None))!);
            }

            if (done.All(d => d.IsFinished) || watch.Elapsed > limit)
            {
                break;
            }

            await Task.Delay(1000);
        }

        var durations = done.Where(d => d.FinishedAt is not null).Select(d => (d.FinishedAt!.Value - d.CreatedAt).TotalSeconds).ToList();
        var outcomes = done.GroupBy(d => d.State.ToString()).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var errors = 0;
        foreach (var id in ids)
        {
            errors += (await store.ListEventsAsync(id, 0, CancellationToken.None)).Count(e => e.Type == "EngineError");
        }

        if (done.Any(d => d.State != DeploymentState.Succeeded))
        {
            var bad = done.First(d => d.State != DeploymentState.Succeeded);
            _problems.Add($"{what}: {done.Count(d => d.State != DeploymentState.Succeeded)} of {done.Count} did not succeed, e.g. {bad.Id} {bad.State}: {bad.Reason}");
        }

        Log($"  {what}: {string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}"))} in {watch.Elapsed.TotalSeconds:0} s");
        return new BatchResult(watch.Elapsed.TotalSeconds, outcomes, Results.Median(durations), durations.DefaultIfEmpty(0).Min(), durations.DefaultIfEmpty(0).Max(), errors);
    }

    private string Markdown(Dictionary<string, string> machine, List<(string Label, string Path)> clis)
    {
        static string F(double? v, string format = "0") => v is { } x && !double.IsNaN(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "–";
        var md = new StringBuilder();
        md.AppendLine("# Backstay: AWS calls per minute of deployment, and 100 deployments at once");
        md.AppendLine();
        md.AppendLine("Written by `backstay-bench-aws --calls` (`bench/run --aws-calls`). How it is measured: [README.md](README.md#aws-calls-per-minute-of-deployment).");
        md.AppendLine();
        md.AppendLine("To reproduce: build this CLI (`dotnet build src/Backstay.Cli -c Release`) and the one to compare with from its commit " +
            "(`git archive COMMIT | tar -x -C /tmp/backstay-before && dotnet build /tmp/backstay-before/src/Backstay.Cli -c Release`), then " +
            "`BENCH_CLI_BEFORE=/tmp/backstay-before/src/Backstay.Cli/bin/Release/net10.0/backstay.dll bench/run --aws-calls` " +
            "(`BENCH_PHASE` and `BENCH_CONCURRENT` change the 60 s and the 100).");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("| --- | --- |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Date | {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {_clock.Elapsed.TotalMinutes:0.0} min |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Command | `{options.Command}` |");
        foreach (var key in new[] { "Machine", "Load at start", ".NET", "Backstay", "Source", "moto" })
        {
            if (machine.TryGetValue(key, out var value))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {key} | {value} |");
            }
        }

        foreach (var (label, path) in clis)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| CLI {label} | `{Machine.Output("dotnet", path, "--version")}`, `{path}` |");
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"| Load at end | {File.ReadAllText("/proc/loadavg").Trim()} |");
        md.AppendLine();
        md.AppendLine("## Calls per minute of deployment (one `backstay deploy` process, counted in moto's request log)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Each waits about {options.Phase.TotalSeconds:0} s: blue/green bakes {options.Phase.TotalSeconds:0} s; the canary pauses {options.Phase.TotalSeconds / 2:0} s at 20% and at 50%; " +
            $"the native rolling deployment is the service's first on a plain moto, which leaves ECS's deployment IN_PROGRESS with no task, killed after {options.Phase.TotalSeconds:0} s. " +
            $"`analysis: {{ window: 2s, minRequests: 20, interval: 250ms }}` (the engine ticks every 250 ms), one CloudWatch alarm, EC2 launch type, `desiredCount: 2`. " +
            $"Calls per minute = the calls moto received with the process's key ÷ the process's wall time.");
        md.AppendLine();
        md.AppendLine("| Strategy | CLI | Run | Outcome | Wall time | Deployment | Calls (moto) | writes / reads | Calls per minute | Reads per minute | Reads per second |");
        md.AppendLine("| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
        foreach (var r in _rows.OrderBy(r => r.Strategy, StringComparer.Ordinal).ThenBy(r => r.Label, StringComparer.Ordinal).ThenBy(r => r.Run))
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Strategy} | {r.Label} | {r.Run} | {r.Outcome} | {F(r.WallSeconds, "0.0")} s | {F(r.DeploymentSeconds, "0.0")} s | {r.Calls} | {r.Writes} / {r.Reads} | {F(r.CallsPerMinute)} | {F(r.ReadsPerMinute)} | {F(r.ReadsPerMinute / 60, "0.00")} |");
        }

        md.AppendLine();
        md.AppendLine("By operation (moto's count, per process):");
        md.AppendLine();
        foreach (var r in _rows.OrderBy(r => r.Strategy, StringComparer.Ordinal).ThenBy(r => r.Label, StringComparer.Ordinal).ThenBy(r => r.Run))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {r.Strategy}, {r.Label}, run {r.Run}: {string.Join(", ", r.ByOperation.Select(kv => $"{kv.Key} {kv.Value}"))}");
        }

        if (_concurrent is { } c)
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"## {c.N} deployments at once, in one process");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"In-process, as `backstay serve` runs them: one SQLite store, one ECS platform, one engine; {c.N} services (each its own moto world), blue/green with a " +
                $"{c.PhaseSeconds:0} s bake, `task.startTimeout: 5m`. Every request the platform sends goes through a stand-in for AWS's throttling (bench/Backstay.Bench.Aws/SimulatedThrottle.cs: " +
                $"per API group, the refill rate of Backstay's default client-side limit and twice its burst; an empty bucket answers ThrottlingException without reaching moto). " +
                $"The engine also records every service's state each observation interval (10 s on ECS). One task-set agent loop (unthrottled, not counted) registers targets for every world.");
            md.AppendLine();
            md.AppendLine("| Batch | Outcomes | Wall time of the batch | Deployment (created → finished) | Throttling answers | Engine errors |");
            md.AppendLine("| --- | --- | ---: | --- | ---: | ---: |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| first deployments (create the services) | {Outcomes(c.First)} | {F(c.First.WallSeconds)} s | {F(c.First.MedianSeconds)} s ({F(c.First.MinSeconds)}–{F(c.First.MaxSeconds)}) | {c.ThrottledFirst} | {c.First.EngineErrors} |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| measured: the next revision | {Outcomes(c.Measured)} | {F(c.Measured.WallSeconds)} s | {F(c.Measured.MedianSeconds)} s ({F(c.Measured.MinSeconds)}–{F(c.Measured.MaxSeconds)}) | {c.Throttled} | {c.Measured.EngineErrors} |");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"Measured batch: {c.Calls} calls ({c.Writes} writes, {c.Reads} reads), {F(c.Calls / (double)c.N)} per deployment, " +
                $"{F(c.Calls / (double)c.N / (c.Measured.MedianSeconds / 60))} per deployment-minute; {F(c.MeanPerSecond, "0.0")} calls per second on average over the batch, " +
                $"{c.PeakPerSecond} in the busiest second. Throttling answers from the stand-in: {c.Throttled} " +
                $"({(c.ThrottledByGroup.Count == 0 ? "none" : string.Join(", ", c.ThrottledByGroup.Select(kv => $"{kv.Key} {kv.Value}")))}); " +
                $"calls that waited for the client-side limit: {c.LimiterWaits} ({F(c.LimiterWaitedSeconds, "0.0")} s of waiting in all); " +
                $"watching reads put off while their bucket was empty (their callers kept the older answer): {c.LimiterPutOff}.");
            md.AppendLine();
            md.AppendLine("| API group | Calls | Busiest second | Client-side limit (per second, burst) |");
            md.AppendLine("| --- | ---: | ---: | --- |");
            foreach (var g in c.Groups)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {g.Group} | {g.Calls} | {g.PeakPerSecond} | {F(g.PerSecond, "0.#")}, {g.Burst?.ToString(CultureInfo.InvariantCulture) ?? "–"} |");
            }

            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"By operation: {string.Join(", ", c.ByOperation.Select(kv => $"{kv.Key} {kv.Value}"))}.");
        }

        md.AppendLine();
        md.AppendLine("## Problems");
        md.AppendLine();
        md.AppendLine(_problems.Count == 0 ? "None." : string.Join(Environment.NewLine, _problems.Select(p => $"- {p}")));
        return md.ToString();
    }

    private static string Outcomes(BatchResult b) => string.Join(", ", b.Outcomes.Select(o => $"{o.Key} {o.Value}"));
}

internal sealed record CallOptions(string Cli, string? CliBefore, string Out, string Command, TimeSpan Phase, int Concurrent, int Runs)
{
    public static CallOptions? Parse(string[] args)
    {
        string? Value(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }

        var cli = Value("--cli");
        if (cli is null)
        {
            Console.Error.WriteLine("usage: backstay-bench-aws --calls --cli PATH/backstay.dll [--cli-before PATH/backstay.dll] [--out FILE] [--phase SECONDS] [--concurrent N] [--runs N]");
            return null;
        }

        return new CallOptions(Path.GetFullPath(cli), Value("--cli-before") is { } before ? Path.GetFullPath(before) : null,
            Path.GetFullPath(Value("--out") ?? "bench/results-aws-calls.md"), Value("--command") ?? string.Join(' ', args),
            TimeSpan.FromSeconds(int.Parse(Value("--phase") ?? "60", CultureInfo.InvariantCulture)),
            int.Parse(Value("--concurrent") ?? "100", CultureInfo.InvariantCulture), int.Parse(Value("--runs") ?? "1", CultureInfo.InvariantCulture));
    }
}

internal sealed record CallRow(string Label, string Strategy, int Run, string Outcome, double WallSeconds, double? DeploymentSeconds, int Calls, int Writes, int Reads,
    int? BackstayCount, Dictionary<string, int> ByOperation)
{
    public double CallsPerMinute => Calls / WallSeconds * 60;

    public double ReadsPerMinute => Reads / WallSeconds * 60;
}

internal sealed record BatchResult(double WallSeconds, Dictionary<string, int> Outcomes, double MedianSeconds, double MinSeconds, double MaxSeconds, int EngineErrors);

internal sealed record GroupRate(string Group, int Calls, int PeakPerSecond, double? PerSecond, int? Burst);

internal sealed record ConcurrentResult(int N, double PhaseSeconds, double SetupSeconds, BatchResult First, int ThrottledFirst, long WaitsFirst, BatchResult Measured,
    int Calls, int Reads, int Writes, double MeanPerSecond, int PeakPerSecond, int Throttled, Dictionary<string, int> ThrottledByGroup, long ClientThrottled,
    long LimiterWaits, double LimiterWaitedSeconds, long LimiterPutOff, List<GroupRate> Groups, Dictionary<string, int> ByOperation);
