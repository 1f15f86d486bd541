using System.Diagnostics;
using System.Globalization;
using Backstay.Bench.Aws;
using Backstay.Platform.Ecs.Tests.Moto;

// backstay-bench-aws --quick|--full --cli PATH/backstay.dll --out FILE [--command TEXT] [--runs N] [--growth 1,10,100,100/20]
//   [--strategies blueGreen,canary,...] [--cases succeeded,rolledBack,manualRollback]
// Exit: 0 nothing broken, 1 something broken (listed under Problems), 2 usage or missing build.
if (args.Contains("--calls"))
{
    // backstay-bench-aws --calls --cli PATH [--cli-before PATH] [--out FILE] [--phase SECONDS] [--concurrent N] [--runs N]
    var calls = CallOptions.Parse(args);
    return calls is null ? 2 : await new CallRateRunner(calls).RunAsync();
}

var options = Options.Parse(args);
if (options is null)
{
    return 2;
}

if (!File.Exists(options.Cli))
{
    Console.Error.WriteLine($"[bench-aws] the CLI is missing: {options.Cli} (dotnet build src/Backstay.Cli -c Release)");
    return 2;
}

var runner = new AwsRunner(options);
return await runner.RunAsync();

/// <summary>A growth step: N services, deployed all at once (Batch = N) or Batch at a time.</summary>
internal sealed record GrowthStep(int N, int Batch)
{
    /// <summary>"100" (all at once) or "100/20" (20 at a time).</summary>
    public static GrowthStep Parse(string text)
    {
        var parts = text.Split('/');
        var n = int.Parse(parts[0], CultureInfo.InvariantCulture);
        return new GrowthStep(n, parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : n);
    }
}

internal sealed record Options(bool Full, string Cli, string Out, string Command, int Runs, IReadOnlyList<GrowthStep> Growth, IReadOnlyList<string> StrategyNames,
    IReadOnlyList<string> Cases, string GrowthStrategy)
{
    public static Options? Parse(string[] args)
    {
        var full = args.Contains("--full");
        string? Value(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }

        var cli = Value("--cli");
        var output = Value("--out");
        if (cli is null || output is null)
        {
            Console.Error.WriteLine("usage: backstay-bench-aws --quick|--full --cli PATH/backstay.dll --out FILE [--command TEXT] [--runs N] [--growth 1,10,100,100/20] [--strategies a,b] [--cases a,b]");
            return null;
        }

        static List<string> List(string? value, string fallback) => (value ?? fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        return new Options(
            full,
            Path.GetFullPath(cli),
            Path.GetFullPath(output),
            Value("--command") ?? string.Join(' ', args),
            int.Parse(Value("--runs") ?? (full ? "5" : "1"), CultureInfo.InvariantCulture),
            List(Value("--growth"), full ? "1,10,100,100/20" : "3").Select(GrowthStep.Parse).ToList(),
            List(Value("--strategies"), full ? "blueGreen,canary,linear,phased,rolling" : "blueGreen,canary"),
            List(Value("--cases"), full ? "succeeded,rolledBack,manualRollback" : "succeeded,rolledBack"),
            Value("--growth-strategy") ?? "blueGreen");
    }
}

/// <summary>Starts moto with its request recorder, runs the strategy cases and the growth batches, writes the results.</summary>
internal sealed class AwsRunner(Options options)
{
    /// <summary>Limit of one `backstay deploy` or `rollback` process.</summary>
    public static readonly TimeSpan CommandLimit = TimeSpan.FromSeconds(180);

    /// <summary>
    /// task.startTimeout of the growth specs. With 100 services one agent round (3 calls per world) takes many seconds
    /// on a loaded moto, so the product's 30 s would roll deployments back for the stand-in's slowness, not Backstay's.
    /// </summary>
    public const string GrowthStartTimeout = "5m";

    private readonly CliProcess _cli = new(options.Cli);
    private readonly MotoLog _log = new();
    private readonly List<Measurement> _measurements = [];
    private readonly List<GrowthResult> _growth = [];
    private readonly List<string> _problems = [];
    private readonly List<string> _notes = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string _work = "";
    private string _recording = "";
    private MotoServer? _moto;
    private int? _motoPid;

    private static void Log(string message) => Console.Error.WriteLine($"[bench-aws {DateTime.UtcNow:HH:mm:ss}] {message}");

    public async Task<int> RunAsync()
    {
        var machine = Machine.Describe(options.Cli);
        _work = Directory.CreateTempSubdirectory("backstay-bench-aws-").FullName;
        Environment.SetEnvironmentVariable("MOTO_ENABLE_RECORDING", "true");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => EmergencyStop();
        Console.CancelKeyPress += (_, _) => EmergencyStop();
        var keepWork = false;
        try
        {
            var taskSets = options.StrategyNames.Where(s => !Strategies.NativeRolling(s)).ToList();
            await StartMotoAsync("main", ecsRunning: null);
            if (options.Full)
            {
                foreach (var strategy in taskSets)
                {
                    for (var run = 1; run <= options.Runs; run++)
                    {
                        _measurements.AddRange(await CollectAsync(await StrategyRunAsync(strategy, run)));
                    }
                }
            }
            else
            {
                // Quick mode runs the strategies side by side, to stay short; the counts are per process either way.
                var runs = await Task.WhenAll(taskSets.SelectMany(s => Enumerable.Range(1, options.Runs).Select(run => StrategyRunAsync(s, run))));
                _measurements.AddRange(await CollectAsync(runs.SelectMany(r => r)));
            }

            foreach (var step in options.Growth)
            {
                await GrowthAsync(step.N, step.Batch);
            }

            if (options.StrategyNames.Any(Strategies.NativeRolling))
            {
                await RollingStuckAsync();
                await StopMotoAsync();

                // moto marks an ECS-controller deployment COMPLETED only when MOTO_ECS_SERVICE_RUNNING covers the desired count.
                await StartMotoAsync("rolling", ecsRunning: "2");
                for (var run = 1; run <= options.Runs; run++)
                {
                    _measurements.AddRange(await CollectAsync(await StrategyRunAsync("rolling", run)));
                }
            }
        }
        catch (Exception ex)
        {
            _problems.Add($"the runner stopped: {ex.GetType().Name}: {ex.Message}");
            Log(ex.ToString());
            keepWork = true;
        }
        finally
        {
            var killed = _cli.KillAll();
            if (killed > 0)
            {
                _problems.Add($"{killed} backstay process(es) were still running at the end and were killed");
            }

            await StopMotoAsync();
        }

        var elapsed = _clock.Elapsed;
        var markdown = Results.Markdown(options, machine, elapsed, _measurements, _growth, _log, _problems, _notes, _cli.Started);
        Directory.CreateDirectory(Path.GetDirectoryName(options.Out)!);
        await File.WriteAllTextAsync(options.Out, markdown);
        var raw = Path.Combine(Path.GetDirectoryName(options.Out)!, "out", Path.GetFileNameWithoutExtension(options.Out) + ".json");
        Directory.CreateDirectory(Path.GetDirectoryName(raw)!);
        await File.WriteAllTextAsync(raw, Results.Raw(_measurements, _growth));
        Log($"wrote {options.Out} and {raw} in {elapsed.TotalSeconds:0} s");
        if (keepWork || _problems.Count > 0)
        {
            Log($"kept the work directory {_work} (moto recording, CLI state) for a look");
        }
        else
        {
            try
            {
                Directory.Delete(_work, recursive: true);
            }
            catch (IOException ex)
            {
                Log($"could not delete {_work}: {ex.Message}");
            }
        }

        foreach (var problem in _problems)
        {
            Console.Error.WriteLine($"[bench-aws] problem: {problem}");
        }

        return _problems.Count > 0 ? 1 : 0;
    }

    /// <summary>A moto server with its recorder writing to its own file; MotoServer points this process's AWS_ENDPOINT_URL at it.</summary>
    private async Task StartMotoAsync(string name, string? ecsRunning)
    {
        _recording = Path.Combine(_work, $"moto-{name}.jsonl");
        Environment.SetEnvironmentVariable("MOTO_RECORDER_FILEPATH", _recording);
        Environment.SetEnvironmentVariable("MOTO_ECS_SERVICE_RUNNING", ecsRunning);
        _moto = new MotoServer();
        await _moto.InitializeAsync();

        // The server records where its own request log is (MotoServer sets MOTO_RECORDER_FILEPATH for the process it starts).
        _recording = _moto.RequestLog.Path;
        _motoPid = Machine.FindMoto(_moto.Endpoint.Port);
        Log($"moto ({name}{(ecsRunning is null ? "" : $", MOTO_ECS_SERVICE_RUNNING={ecsRunning}")}) {_moto.Endpoint} pid {_motoPid}, recording to {_recording}; CLI {options.Cli}");
    }

    private async Task StopMotoAsync()
    {
        if (_moto is not null)
        {
            try
            {
                await _moto.DisposeAsync();
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
            {
                _problems.Add($"moto did not stop: {ex.Message}");
            }

            _moto = null;
        }

        if (_motoPid is { } pid && Machine.Alive(pid))
        {
            _problems.Add($"moto (pid {pid}) was still running after it was stopped; killed");
            Machine.Kill(pid);
        }

        _motoPid = null;
    }

    /// <summary>
    /// Rolling through the ECS deployment controller on a plain moto: the service's deployment stays IN_PROGRESS
    /// (moto starts no task), so `backstay deploy` never ends; it is killed after a bounded time, and moto's log gives
    /// what it sent meanwhile (how fast a native rollout polls).
    /// </summary>
    private async Task RollingStuckAsync()
    {
        var limit = TimeSpan.FromSeconds(options.Full ? 30 : 10);
        Log($"rolling on plain moto, killed after {limit.TotalSeconds:0} s");
        using var service = await BenchService.CreateAsync("bs-rolling-stuck", _work, images: 1);
        service.WriteSpec("rolling");
        var m = await Measure("rolling", "stuck", 1, service, limit, "deploy", "--image", service.Image(1), "--output", "json");
        _measurements.AddRange(await CollectAsync([m], expectReport: false));
        var seconds = limit.TotalSeconds;
        var byOperation = string.Join(", ", m.Moto.OrderByDescending(kv => kv.Value).Select(kv => kv.Key + " " + kv.Value.ToString(CultureInfo.InvariantCulture)));
        var perSecond = (m.MotoTotal / seconds).ToString("0.0", CultureInfo.InvariantCulture);
        if (!m.Cli.TimedOut)
        {
            _notes.Add($"Rolling on plain moto ended by itself ({m.Cli.Outcome}), unexpectedly; {m.Cli.Brief}");
            return;
        }

        _notes.Add($"Rolling through the ECS deployment controller on plain moto: the first `backstay deploy` (CreateService) does not end: moto leaves the " +
            "deployment IN_PROGRESS with no task running (Backstay would fail it only after `task.startTimeout` + 10 minutes without a task starting). " +
            $"The runner killed it after {seconds:0} s, when it had sent {m.MotoTotal} calls by moto's log ({perSecond} per second: {byOperation}). " +
            "The rolling rows above come from a second moto started with MOTO_ECS_SERVICE_RUNNING=2, where the service's one deployment is COMPLETED from the start " +
            "and UpdateService (forceNewDeployment) keeps it COMPLETED: each rollout ends at its first look, so these rows are the floor of a native rolling deployment " +
            "(no polling while ECS replaces tasks), and the alarm case cannot be staged (the rollout is over before an alarm can be set).");
    }

    private void Problem(string text)
    {
        lock (_problems)
        {
            _problems.Add(text);
        }
    }

    private void EmergencyStop()
    {
        _cli.KillAll();
        if (_motoPid is { } pid && Machine.Alive(pid))
        {
            Machine.Kill(pid);
        }
    }

    /// <summary>The requests moto recorded so far go into the log; the recording starts again empty. Called with no CLI running.</summary>
    private async Task<List<Measurement>> CollectAsync(IEnumerable<Measurement> measurements, bool expectReport = true)
    {
        var list = measurements.ToList();
        _log.Add(_recording);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var reset = await http.PostAsync(new Uri(_moto!.Endpoint, "/moto-api/recorder/reset-recording"), null);
        foreach (var m in list)
        {
            m.Moto = _log.For(m.Cli.Key);
            if (expectReport && m.BackstayTotal is null)
            {
                Problem($"{m.Strategy} {m.Case} run {m.Run}: the report has no apiCalls ({m.Cli.Brief})");
            }
        }

        return list;
    }

    /// <summary>One run of a strategy on a fresh world: first deployment, then the cases; returns them uncollected.</summary>
    private async Task<List<Measurement>> StrategyRunAsync(string strategy, int run)
    {
        Log($"{strategy} run {run}/{options.Runs}");
        var measured = new List<Measurement>();
        using var service = await BenchService.CreateAsync($"bs-{strategy.ToLowerInvariant()}", _work, images: 3);
        await using (var agent = new MotoTaskSetAgent(service.World))
        {
            service.WriteSpec(strategy);
            var native = Strategies.NativeRolling(strategy);
            var limit = CommandLimit;
            var first = await Measure(strategy, "first", run, service, limit, "deploy", "--image", service.Image(1), "--output", "json");
            measured.Add(first);
            if (!Expect(first, 0, "Succeeded"))
            {
                return measured;
            }

            if (options.Cases.Contains("succeeded"))
            {
                var ok = await Measure(strategy, "succeeded", run, service, limit, "deploy", "--image", service.Image(2), "--output", "json");
                measured.Add(ok);
                Expect(ok, 0, "Succeeded");
                if (options.Cases.Contains("manualRollback"))
                {
                    var back = await Measure(strategy, "manualRollback", run, service, limit, "rollback", service.Service, "--output", "json");
                    measured.Add(back);
                    Expect(back, 0, "Succeeded");
                }
            }

            if (options.Cases.Contains("rolledBack") && !native)
            {
                var stable = await service.ServingGroupAsync();
                var key = _cli.NewKey();
                var args = new[] { "deploy", "--image", service.Image(3), "--output", "json" };
                var watch = Stopwatch.StartNew();
                using var process = _cli.Start(service.WorkDirectory, key, args);
                var note = await service.TripAlarmMidwayAsync(stable, process, TimeSpan.FromSeconds(60));
                var result = await _cli.WaitAsync(process, key, args, watch, limit);
                await service.World.SetAlarmStateAsync("OK");
                var bad = new Measurement { Strategy = strategy, Case = "rolledBack", Run = run, Cli = result, Note = $"alarm {note}" };
                measured.Add(bad);
                Expect(bad, 3, "RolledBack");
            }
        }

        foreach (var m in measured)
        {
            Log($"  {strategy} {m.Case}: {m.Cli.Outcome}, Backstay {m.BackstayTotal?.ToString(CultureInfo.InvariantCulture) ?? "-"} calls, {m.Cli.WallMs / 1000:0.0} s");
        }

        return measured;
    }

    private async Task<Measurement> Measure(string strategy, string @case, int run, BenchService service, TimeSpan limit, params string[] args)
    {
        var result = await _cli.RunAsync(service.WorkDirectory, limit, args);
        return new Measurement { Strategy = strategy, Case = @case, Run = run, Cli = result };
    }

    private bool Expect(Measurement m, int exitCode, string outcome)
    {
        if (m.Cli.ExitCode == exitCode && m.Cli.Outcome == outcome)
        {
            return true;
        }

        Problem($"{m.Strategy} {m.Case} run {m.Run}: expected {outcome} (exit {exitCode}), got {m.Cli.Outcome}; {m.Cli.Brief}");
        return false;
    }

    /// <summary>
    /// N services deployed at once: N worlds, their first deployments in batches (not measured), then N concurrent
    /// `backstay deploy` processes, each with its own key and state directory; one agent loop serves every world.
    /// </summary>
    private async Task GrowthAsync(int n, int batch)
    {
        var strategy = options.GrowthStrategy;
        Log($"growth: {n} service(s), {batch} at a time, {strategy}");
        var services = new List<BenchService>();
        var setup = Stopwatch.StartNew();
        try
        {
            using (var gate = new SemaphoreSlim(4))
            {
                var creating = Enumerable.Range(0, n).Select(async i =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        return await BenchService.CreateAsync($"g{n}-{i:D3}", _work, images: 2);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }).ToList();
                services.AddRange(await Task.WhenAll(creating));
            }

            foreach (var s in services)
            {
                s.WriteSpec(strategy, GrowthStartTimeout);
            }

            var setupSeconds = setup.Elapsed.TotalSeconds;
            await using var agent = new MotoTaskSetAgent([.. services.Select(s => s.World)]);
            var prep = Stopwatch.StartNew();
            var firsts = new List<Measurement>();
            foreach (var chunk in services.Chunk(10))
            {
                var results = await Task.WhenAll(chunk.Select(s => Measure(strategy, $"growth-{n}/{batch}-first", 1, s, TimeSpan.FromSeconds(300),
                    "deploy", "--image", s.Image(1), "--output", "json")));
                firsts.AddRange(results);
            }

            var prepSeconds = prep.Elapsed.TotalSeconds;
            var failedFirst = firsts.Count(m => m.Cli.ExitCode != 0);
            if (failedFirst > 0)
            {
                _problems.Add($"growth {n}: {failedFirst} of {n} first deployments did not succeed, e.g. {firsts.First(m => m.Cli.ExitCode != 0).Cli.Brief}");
            }

            var measured = new List<Measurement>();
            var wall = Stopwatch.StartNew();
            foreach (var chunk in services.Chunk(batch))
            {
                var results = await Task.WhenAll(chunk.Select(s => Measure(strategy, $"growth-{n}/{batch}", 1, s, TimeSpan.FromSeconds(900),
                    "deploy", "--image", s.Image(2), "--output", "json")));
                measured.AddRange(results);
            }

            var batchSeconds = wall.Elapsed.TotalSeconds;
            await CollectAsync(firsts.Concat(measured));
            foreach (var m in measured.Where(m => m.Cli.ExitCode != 0 || m.Cli.Outcome != "Succeeded").Take(3))
            {
                _problems.Add($"growth {n}: a deployment did not succeed: {m.Cli.Outcome}; {m.Cli.Brief}");
            }

            _growth.Add(new GrowthResult(n, strategy, batch, setupSeconds, prepSeconds, batchSeconds, firsts, measured));
            Log($"  {n}: {measured.Count(m => m.Cli.Outcome == "Succeeded")}/{n} succeeded in {batchSeconds:0.0} s; calls per deployment median " +
                $"{Results.Median(measured.Select(m => (double)(m.BackstayTotal ?? 0))):0}");
        }
        finally
        {
            foreach (var s in services)
            {
                s.Dispose();
            }
        }
    }
}

internal sealed record GrowthResult(int N, string Strategy, int Batch, double SetupSeconds, double PrepSeconds, double BatchSeconds,
    IReadOnlyList<Measurement> Firsts, IReadOnlyList<Measurement> Measured);
