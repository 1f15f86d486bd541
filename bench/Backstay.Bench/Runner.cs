using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Backstay.Bench;

/// <summary>
/// `backstay-bench run --quick|--full`: starts its own `backstay serve` on a temporary state directory with free
/// loopback ports, drives deployments through the real CLI under load from a separate process, and writes the results.
/// </summary>
internal sealed partial class Runner
{
    private static readonly TimeSpan DeployTimeout = TimeSpan.FromSeconds(240);
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(1500);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(1);

    private readonly Settings _s;
    private readonly string _cliDll;
    private readonly string _benchDll;
    private readonly string _work;
    private readonly BackstayCli _cli;
    private readonly Results _results;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<LoadHandle> _loads = [];
    private readonly Dictionary<string, (int Prod, int Test, string Dir)> _services = new(StringComparer.Ordinal);
    private ServeHandle? _serve;
    private int _currentRate;

    private Runner(Settings settings, string cliDll, string benchDll, string work, Results results)
    {
        _s = settings;
        _cliDll = cliDll;
        _benchDll = benchDll;
        _work = work;
        _results = results;
        _cli = new BackstayCli(cliDll, Path.Combine(work, "state"), work);
    }

    public static async Task<int> RunAsync(string[] argv)
    {
        var a = Args.Parse(argv);
        var settings = a.Has("footprint") ? Settings.Footprint : a.Has("full") ? Settings.Full : Settings.Quick;
        if (a.Get("rate") is { } rate)
        {
            settings = settings with { Rate = int.Parse(rate, CultureInfo.InvariantCulture) };
        }

        settings = settings with
        {
            FootprintServices = a.GetInt("services", settings.FootprintServices),
            FootprintInProgress = a.GetInt("in-progress", settings.FootprintInProgress),
            FootprintSampleSeconds = a.GetInt("sample-seconds", settings.FootprintSampleSeconds),
        };

        var repo = Path.GetFullPath(a.Get("repo") ?? Environment.CurrentDirectory);
        var cli = Path.GetFullPath(a.Get("cli") ?? Path.Combine(repo, "src/Backstay.Cli/bin/Release/net10.0/backstay.dll"));
        var r2r = Path.GetFullPath(a.Get("r2r") ?? Path.Combine(repo, "bench/out/backstay-r2r/backstay.dll"));
        var output = Path.GetFullPath(a.Get("out") ?? Path.Combine(repo, $"bench/{settings.Mode switch { "full" => "results", "footprint" => "results-footprint", _ => "results-quick" }}.md"));
        var command = a.Get("command") ?? $"bench/run --{settings.Mode}";
        if (!File.Exists(cli))
        {
            Console.Error.WriteLine($"bench: {cli} not found; build it with `dotnet build src/Backstay.Cli -c Release`");
            return 2;
        }

        var work = Directory.CreateTempSubdirectory("backstay-bench-").FullName;
        var results = new Results(settings, command, repo, cli, File.Exists(r2r) ? r2r : null, a.Get("r2r-note"));
        var runCli = cli;
        if (settings.Mode == "footprint")
        {
            // A long run on a shared machine: a copy of the build, so a rebuild of src/ meanwhile cannot mix two builds.
            runCli = Path.Combine(CopyDirectory(Path.GetDirectoryName(cli)!, Path.Combine(work, "cli")), Path.GetFileName(cli));
            results.CliNote = $"copied to the work directory at the start, so serve and every CLI call of the run use this one build";
        }

        results.CliVersion = (await Proc.RunAsync("dotnet", [runCli, "--version"], TimeSpan.FromSeconds(30))).Stdout.Trim();
        var runner = new Runner(settings, runCli, typeof(Runner).Assembly.Location, work, results);
        Log($"bench {settings.Mode}: work directory {work}, load {settings.Rate} req/s");
        var ok = await runner.ExecuteAsync();
        results.Finished = DateTimeOffset.UtcNow;
        results.Seconds = runner._clock.Elapsed.TotalSeconds;
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        await File.WriteAllTextAsync(output, settings.Mode == "footprint" ? results.ToScaleMarkdown() : results.ToMarkdown());
        var raw = Path.Combine(repo, "bench/out", $"runs-{settings.Mode}.json");
        Directory.CreateDirectory(Path.GetDirectoryName(raw)!);
        await File.WriteAllTextAsync(raw, results.RawJson());
        Log($"wrote {output} (raw runs: {raw}) after {runner._clock.Elapsed.TotalSeconds:0} s");
        if (ok && results.Problems.Count == 0)
        {
            TryDelete(work);
            return 0;
        }

        Console.Error.WriteLine("bench: problems (the work directory with serve's log is kept: " + work + "):");
        foreach (var p in results.Problems)
        {
            Console.Error.WriteLine("  - " + p);
        }

        return 1;
    }

    private static string CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
        }

        return to;
    }

    public static void Log(string message) =>
        Console.Error.WriteLine($"[{DateTimeOffset.UtcNow:HH:mm:ss}] {message}");

    private async Task<bool> ExecuteAsync()
    {
        try
        {
            if (_s.Mode == "footprint")
            {
                _serve = await ServeHandle.StartAsync(_cliDll, _cli.State, Path.Combine(_work, "serve.log"));
                await Guard("footprint at scale", ScalePhaseAsync);
                return true;
            }

            await Guard("start-up of --version (before serve starts)", () => TimeStartupAsync(null, versionToo: true));
            _serve = await ServeHandle.StartAsync(_cliDll, _cli.State, Path.Combine(_work, "serve.log"));
            _results.Footprints.Add(await SampleFootprintAsync("serve just started, nothing deployed", 0, 0, 2));
            foreach (var strategy in Specs.Strategies)
            {
                await Guard($"strategy {strategy}", () => StrategyPhaseAsync(strategy));
            }

            await Guard("false rollbacks and detection threshold", NoisePhaseAsync);
            await Guard("footprint and start-up", FootprintAndStartupPhaseAsync);
            return true;
        }
        catch (BenchException ex)
        {
            _results.Problems.Add(ex.Message);
            return false;
        }
        finally
        {
            foreach (var load in _loads)
            {
                await load.DisposeAsync();
            }

            if (_serve is not null)
            {
                var serveTail = ServeHandle.Tail(_serve.LogPath, 40);
                var stopping = Stopwatch.StartNew();
                var problems = await _serve.StopAsync();
                _results.Scale.ServeStopSeconds = stopping.Elapsed.TotalSeconds;
                _results.Problems.AddRange(problems);
                if (_s.Mode == "footprint")
                {
                    ReadServeLog(_serve.LogPath);
                }

                if (_results.Problems.Count > 0)
                {
                    _results.ServeLogTail = serveTail;
                }
            }

            await Task.Delay(500);
            var leftovers = ProcFs.ProcessesMentioning(_work);
            foreach (var (pid, cmd) in leftovers)
            {
                _results.Problems.Add($"leftover process {pid} ({cmd}) after the run; ended it");
                ProcFs.KillHard(pid);
            }

            _results.LeftoverCheck = leftovers.Count == 0
                ? "no process of the run (serve, HAProxy, instances, load) was left running"
                : $"{leftovers.Count} leftover process(es) were ended";
        }
    }

    private async Task Guard(string phase, Func<Task> body)
    {
        var sw = Stopwatch.StartNew();
        Log($"phase: {phase}");
        try
        {
            await body();
        }
        catch (BenchException ex) when (ex is not ServeGoneException)
        {
            _results.Problems.Add($"{phase}: {ex.Message}");
            Log($"problem in {phase}: {ex.Message}");
            _serve?.EnsureServing();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or JsonException or KeyNotFoundException or FormatException)
        {
            _results.Problems.Add($"{phase}: unexpected {ex.GetType().Name}: {ex.Message}");
            Log($"problem in {phase}: {ex}");
        }

        _results.PhaseSeconds[phase] = sw.Elapsed.TotalSeconds;
        _serve?.EnsureServing();
    }

    private string WriteSpec(string service, string strategy, string? analysis, int instances = 3, bool testListener = true,
        string image = "builtin:hello", string healthCheck = Specs.FastHealthCheck)
    {
        if (!_services.TryGetValue(service, out var svc))
        {
            var dir = Path.Combine(_work, service);
            Directory.CreateDirectory(dir);
            svc = (Net.ListenerPort(), testListener ? Net.ListenerPort() : 0, dir);
            _services[service] = svc;
        }

        var path = Path.Combine(svc.Dir, "backstay.yaml");
        File.WriteAllText(path, Specs.Service(service, svc.Prod, svc.Test == 0 ? null : svc.Test, instances, strategy, analysis, image, healthCheck));
        return path;
    }

    private string Url(string service) => $"http://127.0.0.1:{_services[service].Prod}/";

    private async Task<DeployReport> FirstDeployAsync(string service, string strategy, string? analysis, int instances = 3, bool testListener = true)
    {
        var spec = WriteSpec(service, strategy, analysis, instances, testListener);
        var report = await _cli.DeployAsync(spec, [], DeployTimeout);
        if (report.Outcome != "Succeeded")
        {
            throw new BenchException($"first deployment of {service} did not succeed: {report.Outcome} ({report.Reason})");
        }

        return report;
    }

    private async Task<LoadHandle> StartLoadAsync(string service, int maxSeconds, int? rate = null)
    {
        var log = Path.Combine(_work, $"load-{service}-{_loads.Count}.csv");
        _currentRate = rate ?? _s.Rate;
        var load = await LoadHandle.StartAsync(_benchDll, Url(service), _currentRate, maxSeconds, log);
        _loads.Add(load);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        return load;
    }

    private async Task<Run> DeployRunAsync(string kind, string strategy, string window, double errorRate, string spec)
    {
        var from = DateTimeOffset.UtcNow;
        var env = errorRate > 0 ? new[] { "ERROR_RATE=" + errorRate.ToString("0.####", CultureInfo.InvariantCulture) } : [];
        _serve!.EnsureServing();
        var report = await _cli.DeployAsync(spec, env, DeployTimeout, whileWaiting: _serve.EnsureServing);
        if (report.Outcome is "Paused" or "InProgress")
        {
            // Timed pauses (linear's interval) make `deploy` return "Paused" (exit 5) though nothing waits for a person.
            _results.Note($"`backstay deploy` returned {report.Outcome} (exit {report.ExitCode}) while the {strategy} deployment was in a timed pause " +
                "that ends by itself; the runner followed it with `backstay history --events` until it finished", report.Id);
            var service = Path.GetFileName(Path.GetDirectoryName(spec))!;
            report = await _cli.WaitFinishedAsync(service, report.Id, DeployTimeout);
        }

        var to = DateTimeOffset.UtcNow + Grace;
        await Task.Delay(Pause);
        Log($"  {kind} {strategy} {window} error rate {errorRate:0.###}: {report.Id} revision {report.Revision} {report.Outcome}" +
            (report.TimeToSafetyMs is { } t ? $", time to safety {t} ms" : "") + (report.Reason is { } why ? $" ({why})" : ""));
        return new Run(kind, strategy, window, errorRate, report, from, to, _currentRate);
    }

    private async Task StrategyPhaseAsync(string strategy)
    {
        var service = "bench-" + strategy.ToLowerInvariant();
        await FirstDeployAsync(service, Specs.GoodStrategy(strategy), null);
        var maxSeconds = 60 + (_s.Windows.Length * _s.BadRunsPerWindow * 40) + (_s.GoodRunsPerStrategy * 60);
        var load = await StartLoadAsync(service, maxSeconds);
        var runs = new List<Run>();
        foreach (var window in _s.Windows)
        {
            for (var i = 0; i < _s.BadRunsPerWindow; i++)
            {
                var spec = WriteSpec(service, Specs.BadStrategy(strategy, window), $"analysis: {{ window: {window} }}");
                var run = await DeployRunAsync("bad", strategy, window, 0.3, spec);
                runs.Add(run);
                if (run.Report.Outcome != "RolledBack")
                {
                    _results.Problems.Add($"{strategy}, window {window}: a revision failing 30% of requests was not rolled back: {run.Report.Outcome} ({run.Report.Reason}), deployment {run.Report.Id}");
                }
            }
        }

        for (var i = 0; i < _s.GoodRunsPerStrategy; i++)
        {
            var spec = WriteSpec(service, Specs.GoodStrategy(strategy), null);
            var run = await DeployRunAsync("good", strategy, "defaults", 0, spec);
            runs.Add(run);
            if (run.Report.Outcome != "Succeeded")
            {
                _results.Problems.Add($"{strategy}: a good revision (no errors) did not succeed: {run.Report.Outcome} ({run.Report.Reason}), deployment {run.Report.Id}");
            }
        }

        await CollectAsync(service, load, runs);
        if (strategy == "canary")
        {
            foreach (var rate in _s.ExtraRates)
            {
                var slow = await StartLoadAsync(service, 60 + (_s.BadRunsPerWindow * 40), rate);
                var slowRuns = new List<Run>();
                for (var i = 0; i < _s.BadRunsPerWindow; i++)
                {
                    var spec = WriteSpec(service, Specs.BadStrategy(strategy, "10s"), "analysis: { window: 10s }");
                    slowRuns.Add(await DeployRunAsync("bad-rate", strategy, "10s", 0.3, spec));
                }

                await CollectAsync(service, slow, slowRuns);
            }
        }
    }

    private async Task CollectAsync(string service, LoadHandle load, List<Run> runs)
    {
        await load.StopAsync();
        var samples = load.ReadLog();
        _results.LoadSummaries.Add($"{service} at {load.Rate} req/s: {load.Summary}");
        foreach (var run in runs)
        {
            var safety = SafetyView.Of(run.Report);
            _results.Runs.Add((run, LoadView.Of(samples, run, safety.SafeAt), safety));
        }
    }

    private async Task NoisePhaseAsync()
    {
        const string service = "bench-noise";
        await FirstDeployAsync(service, Specs.DefaultsCanary, null);
        var spec = WriteSpec(service, Specs.DefaultsCanary, null);
        var maxSeconds = 60 + ((_s.FalseRollbackRuns + (_s.ThresholdRates.Length * _s.ThresholdRuns)) * 60);
        var load = await StartLoadAsync(service, maxSeconds);
        var runs = new List<Run>();
        for (var i = 0; i < _s.FalseRollbackRuns; i++)
        {
            runs.Add(await DeployRunAsync("noise", "canary", "defaults", 0.005, spec));
        }

        foreach (var rate in _s.ThresholdRates)
        {
            for (var i = 0; i < _s.ThresholdRuns; i++)
            {
                runs.Add(await DeployRunAsync("threshold", "canary", "defaults", rate, spec));
            }
        }

        await CollectAsync(service, load, runs);
        if (runs.Any(r => r.Kind == "threshold" && r.ErrorRate >= 0.10 && r.Report.Outcome != "RolledBack"))
        {
            _results.Problems.Add("a canary failing 10% of requests (twice the default 5% limit) was not rolled back at the default analysis settings");
        }
    }

    private async Task FootprintAndStartupPhaseAsync()
    {
        var seconds = _s.FootprintSampleSeconds;
        var benchServices = _services.Count;
        _results.Footprints.Add(await SampleFootprintAsync($"after the scenarios, idle (no load)", benchServices, 0, seconds));
        if (_s.Mode == "full")
        {
            await TimeStartupAsync($"{benchServices} services");
        }

        var names = new List<string>();
        for (var i = 1; i <= _s.FootprintServices; i++)
        {
            var name = $"fp-{i:000}";
            names.Add(name);
            await FirstDeployAsync(name, Specs.Rolling, null, instances: 1, testListener: false);
        }

        _results.Footprints.Add(await SampleFootprintAsync($"{names.Count} more services (1 instance each), idle", _services.Count, 0, seconds));

        var paused = names.Take(_s.FootprintInProgress).ToList();
        foreach (var name in paused)
        {
            var spec = WriteSpec(name, Specs.PausedCanary, null, instances: 1, testListener: false);
            var r = await _cli.DeployAsync(spec, [], DeployTimeout, noWait: true);
            if (r.ExitCode != 0)
            {
                throw new BenchException($"could not start the paused deployment of {name}: {r.Outcome} ({r.Reason})");
            }
        }

        var waited = Stopwatch.StartNew();
        var pausedNow = 0;
        while (waited.Elapsed < TimeSpan.FromSeconds(90))
        {
            pausedNow = await CountPausedAsync();
            if (pausedNow >= paused.Count)
            {
                break;
            }

            await Task.Delay(500);
        }

        if (pausedNow < paused.Count)
        {
            _results.Problems.Add($"only {pausedNow} of {paused.Count} canaries reached their pause within 90 s");
        }

        using (var api = ServeApi.Open(_cli.State))
        {
            await MeasureSpanAsync(api, $"{pausedNow} deployments in progress (paused canaries at 10%, engine ticking every 100 ms)",
                _services.Count, pausedNow, seconds);
        }

        await TimeStartupAsync($"{_services.Count} services, {pausedNow} deployments in progress");

        var rollback = await _cli.RunAsync(TimeSpan.FromSeconds(180), ["rollback", .. paused, "--output", "json"]);
        if (rollback.ExitCode is not (0 or 3))
        {
            _results.Problems.Add($"`backstay rollback {string.Join(' ', paused)}` exited {rollback.ExitCode}: {rollback.Stderr.Trim()}");
        }

        _results.Footprints.Add(await SampleFootprintAsync("after rolling the paused canaries back, idle", _services.Count, 0, seconds));
    }

    private async Task<int> CountPausedAsync()
    {
        var status = await _cli.RunAsync(TimeSpan.FromSeconds(30), "status", "--output", "json");
        if (status.ExitCode != 0)
        {
            return 0;
        }

        using var doc = JsonDocument.Parse(status.Stdout);
        return doc.RootElement.GetProperty("services").EnumerateArray()
            .Count(s => s.TryGetProperty("state", out var st) && st.ValueKind == JsonValueKind.String && st.GetString() == "Paused");
    }

    private Task<Footprint> SampleFootprintAsync(string when, int services, int inProgress, int seconds) =>
        FootprintSampler.SampleAsync(_serve!, when, services, inProgress, seconds);

    private async Task TimeStartupAsync(string? context, bool versionToo = false)
    {
        var commands = new List<(string Name, string[] Command, int Runs)>();
        var jit = _cliDll;
        var apphost = Path.Combine(Path.GetDirectoryName(jit)!, "backstay");
        var r2r = _results.R2rDll;
        if (versionToo)
        {
            commands.Add(("`dotnet backstay.dll --version` (Release build, JIT)", ["dotnet", jit, "--version"], _s.VersionRuns));
            if (File.Exists(apphost))
            {
                commands.Add(("`backstay --version` (apphost, JIT)", [apphost, "--version"], _s.VersionRuns));
            }

            if (r2r is not null)
            {
                commands.Add(("`dotnet backstay.dll --version` (ReadyToRun)", ["dotnet", r2r, "--version"], _s.VersionRuns));
                var r2rHost = Path.Combine(Path.GetDirectoryName(r2r)!, "backstay");
                if (File.Exists(r2rHost))
                {
                    commands.Add(("`backstay --version` (apphost, ReadyToRun)", [r2rHost, "--version"], _s.VersionRuns));
                }
            }
        }

        if (context is not null)
        {
            commands.Add(($"`dotnet backstay.dll status` ({context}; JIT)", ["dotnet", jit, "status", "--state", _cli.State], _s.StatusRuns));
            if (r2r is not null)
            {
                commands.Add(($"`dotnet backstay.dll status` ({context}; ReadyToRun)", ["dotnet", r2r, "status", "--state", _cli.State], _s.StatusRuns));
            }
        }

        foreach (var (name, command, runs) in commands)
        {
            _results.Timings.Add(await TimeAsync(name, command, runs));
        }
    }

    private async Task<Timing> TimeAsync(string name, string[] command, int runs)
    {
        var shown = string.Join(' ', command.Select(c => c.Contains(_work, StringComparison.Ordinal) ? c.Replace(_work, "$WORK", StringComparison.Ordinal) : c));
        var hyperfine = File.Exists("/usr/bin/hyperfine") ? "/usr/bin/hyperfine" : null;
        if (hyperfine is not null)
        {
            var json = Path.Combine(_work, $"hyperfine-{_results.Timings.Count}.json");
            var result = await Proc.RunAsync(hyperfine,
                ["-N", "--warmup", "3", "--runs", runs.ToString(CultureInfo.InvariantCulture), "--export-json", json, "--", string.Join(' ', command)],
                TimeSpan.FromSeconds(600), _work);
            if (result.ExitCode == 0 && File.Exists(json))
            {
                using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(json));
                var times = doc.RootElement.GetProperty("results")[0].GetProperty("times").EnumerateArray().Select(t => t.GetDouble() * 1000).ToList();
                Log($"  {name}: median {Stats.Median(times):0} ms");
                return new Timing(name, shown, times, "hyperfine");
            }

            Log($"  hyperfine failed for {name}: {result.Stderr.Trim()}");
        }

        var ms = new List<double>();
        Proc.Result? failed = null;
        for (var i = 0; i < runs + 3; i++)
        {
            var r = await Proc.RunAsync(command[0], command[1..], TimeSpan.FromSeconds(60), _work);
            failed ??= r.ExitCode != 0 ? r : null;
            if (i >= 3)
            {
                ms.Add(r.Elapsed.TotalMilliseconds);
            }
        }

        if (failed is not null)
        {
            // A command that fails is not timed: its figure would look like a start-up time.
            var why = $"exit {failed.ExitCode}: {failed.Stderr.Trim().Split('\n').FirstOrDefault()}";
            Log($"  {name} failed ({why}); not timed");
            return new Timing($"{name} — FAILED ({why}), not timed", shown, [], "runner");
        }

        return new Timing(name, shown, ms, hyperfine is null ? "runner (Process.Start + wait; hyperfine unavailable)" : "runner (Process.Start + wait; hyperfine failed)");
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
