using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Backstay.Bench;

/// <summary>
/// `backstay-bench run --footprint`: serve's footprint with many services recorded (issue 6: 1,000) and many deployments
/// in progress (100). Each service runs one instance of bench/tiny-server.pl (a few MiB, not the ~60 MiB hello sample),
/// health-checked by serve every 10 s. First deployments go in with `backstay deploy --no-wait` in batches; a service the
/// platform cannot run stays recorded (its first deployment failed), the first failure and every reason are reported,
/// and the spans are measured with what runs.
/// </summary>
internal sealed partial class Runner
{
    private const string ScaleHealthCheck = "{ path: /healthz, interval: 10s, timeout: 1s, healthyThreshold: 1, unhealthyThreshold: 3 }";
    private static readonly TimeSpan CreateLimit = TimeSpan.FromMinutes(60);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromMinutes(10);
    private const double MinMemAvailableGiB = 2;
    private const int RollbackChunk = 25;

    private ScaleRun Scale => _results.Scale;

    private async Task ScalePhaseAsync()
    {
        Scale.WorkDirectory = _work;
        var image = PrepareImage();
        Scale.OpenFilesLimit = ProcFs.OpenFilesLimit(_serve!.Pid);
        using var api = ServeApi.Open(_cli.State);
        Scale.EngineFamilies = (await api.MetricsAsync()).Histograms("backstay_engine_");
        Log($"  engine histograms on /metrics: {(Scale.EngineFamilies.Count == 0 ? "none" : string.Join(", ", Scale.EngineFamilies))}; serve's open-files limit {Scale.OpenFilesLimit}");
        _results.Footprints.Add(await SampleFootprintAsync("serve just started, nothing deployed", 0, 0, 5));

        var running = await CreateServicesAsync(api, image);
        if (running.Count == 0)
        {
            throw new BenchException("no service could be created; nothing to measure");
        }

        var seconds = _s.FootprintSampleSeconds;
        await Task.Delay(TimeSpan.FromSeconds(10));
        await MeasureSpanAsync(api, $"{Scale.Recorded} services ({running.Count} running, 1 instance each), idle", 0, seconds);
        await TimeStartupAsync($"{Scale.Recorded} services");

        var paused = await StartPausedAsync(api, [.. running.Take(_s.FootprintInProgress)], image);
        await Task.Delay(TimeSpan.FromSeconds(5));
        await MeasureSpanAsync(api, $"{Scale.Recorded} services, {Scale.InProgress} deployments in progress (canaries paused at 10%)", Scale.InProgress, seconds);
        await TimeStartupAsync($"{Scale.Recorded} services, {Scale.InProgress} deployments in progress");

        await RollBackAsync(api, paused);
        await Task.Delay(TimeSpan.FromSeconds(5));
        await MeasureSpanAsync(api, $"{Scale.Recorded} services, after rolling the {paused.Count} canaries back, idle", 0, Math.Max(10, seconds / 2));
    }

    /// <summary>Copies the tiny server into the work directory, so its processes name the work directory (leftover checks find them).</summary>
    private string PrepareImage()
    {
        if (!File.Exists("/usr/bin/perl"))
        {
            throw new BenchException("the footprint mode's image is a Perl script and /usr/bin/perl is missing (apt-get install perl-base)");
        }

        var image = Path.Combine(_work, "tiny-server.pl");
        File.Copy(Path.Combine(_results.Repo, "bench", "tiny-server.pl"), image);
        File.SetUnixFileMode(image, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        return image;
    }

    /// <summary>
    /// First deployments in batches until the target count, a batch that does not settle, low memory or the time limit;
    /// returns the services that run. A service whose first deployment fails (the platform refused it) stays recorded,
    /// so the count of services recorded can go past the count the platform can run.
    /// </summary>
    private async Task<List<string>> CreateServicesAsync(ServeApi api, string image)
    {
        var running = new List<string>();
        var total = Stopwatch.StartNew();
        for (var first = 1; first <= _s.FootprintServices; first += _s.FootprintBatch)
        {
            if (total.Elapsed > CreateLimit)
            {
                Scale.CreateStopped = $"the {CreateLimit.TotalMinutes:0}-minute limit for creating services was reached at {Scale.Recorded} services";
                break;
            }

            if (ProcFs.MemAvailableGiB() < MinMemAvailableGiB)
            {
                Scale.CreateStopped = $"the machine had less than {MinMemAvailableGiB} GiB available at {Scale.Recorded} services";
                break;
            }

            var names = Enumerable.Range(first, Math.Min(_s.FootprintBatch, _s.FootprintServices - first + 1)).Select(i => $"fp-{i:0000}").ToList();
            var before = await api.MetricsAsync();
            var sw = Stopwatch.StartNew();
            var submitted = await SubmitAsync(names.Select(n => WriteSpec(n, Specs.Rolling, null, 1, false, image, ScaleHealthCheck)).ToList());
            var submitSeconds = sw.Elapsed.TotalSeconds;
            var stuck = await SettleOrStopAsync(api);
            var settleSeconds = sw.Elapsed.TotalSeconds;
            var failures = 0;
            foreach (var (name, report, error) in submitted)
            {
                var (state, reason) = report is null ? ("not submitted", error) : await api.DeploymentAsync(report.Id);
                if (state == "Succeeded")
                {
                    running.Add(name);
                    continue;
                }

                failures++;
                Scale.CreateFailures.Add((name, report?.Id, state, OneLine(reason) ?? ""));
                if (Scale.FirstFailure is null)
                {
                    Scale.FirstFailure = $"{name} (with {running.Count} services running)";
                    Scale.SecondsToFirstFailure = total.Elapsed.TotalSeconds;
                    Log($"  first failed deployment: {name} ({report?.Id}): {state}: {OneLine(reason)}; services that cannot run are still recorded, up to {_s.FootprintServices}");
                }
            }

            Scale.Recorded += submitted.Count(s => s.Report is not null);
            Scale.Running = running.Count;
            var observe = ObserveFigures((await api.MetricsAsync()).Since(before), sw.Elapsed.TotalSeconds);
            var (haproxy, _) = _serve!.PlatformPids();
            Scale.Batches.Add(new ScaleBatch(Scale.Recorded, names.Count, names.Count - failures, submitSeconds, settleSeconds,
                ProcFs.RssKb(_serve.Pid), haproxy is { } h ? ProcFs.RssKb(h) : null, observe.MeanMs, observe.PerSecond, ProcFs.MemAvailableGiB(),
                ProcFs.LoadAverage().Split(' ')[0]));
            Log($"  {Scale.Recorded} services recorded, {running.Count} running: batch of {names.Count} submitted in {submitSeconds:0.0} s, settled in {settleSeconds:0.0} s" +
                (observe.MeanMs is { } m ? $", observation pass {m:0} ms" : ""));
            if (stuck is not null)
            {
                Scale.CreateStopped = $"at {Scale.Recorded} services: {stuck}";
                break;
            }
        }

        Scale.CreateSeconds = total.Elapsed.TotalSeconds;
        return running;
    }

    /// <summary>A reason that quotes a log: its first and last lines.</summary>
    private static string? OneLine(string? text)
    {
        var lines = text?.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines is null || lines.Length <= 1 ? text : $"{lines[0]} … {lines[^1]}";
    }

    /// <summary>
    /// Waits for the batch's deployments to finish. Any still active after the limit (a platform error the engine retries
    /// forever, say) is stopped with `backstay stop`, so the run can measure what it has; says what happened then.
    /// </summary>
    private async Task<string?> SettleOrStopAsync(ServeApi api)
    {
        try
        {
            await WaitActiveAsync(api, _ => true, 0, TimeSpan.FromMinutes(5), "the batch's first deployments to finish");
            return null;
        }
        catch (BenchException ex) when (ex is not ServeGoneException)
        {
            var active = await api.ActiveAsync();
            foreach (var (id, _, _) in active)
            {
                await _cli.RunAsync(TimeSpan.FromSeconds(60), "stop", id, "--output", "json");
            }

            await WaitActiveAsync(api, _ => true, 0, TimeSpan.FromMinutes(2), "the stuck first deployments to stop");
            return $"{ex.Message}; the runner stopped them with `backstay stop`";
        }
    }

    private static (double? MeanMs, double? PerSecond) ObserveFigures(Dictionary<string, HistogramData> delta, double seconds)
    {
        var observe = delta.FirstOrDefault(d => d.Key.Contains("observe", StringComparison.Ordinal) && !d.Key.Contains('{', StringComparison.Ordinal)).Value;
        return observe is null ? (null, null) : (observe.Mean * 1000, observe.Count / seconds);
    }

    /// <summary>`backstay deploy --no-wait` for each spec, a few CLI processes at once.</summary>
    private async Task<List<(string Service, DeployReport? Report, string? Error)>> SubmitAsync(IReadOnlyList<string> specs)
    {
        using var gate = new SemaphoreSlim(_s.FootprintParallel);
        var tasks = specs.Select(async spec =>
        {
            var service = Path.GetFileName(Path.GetDirectoryName(spec))!;
            await gate.WaitAsync();
            try
            {
                var report = await _cli.DeployAsync(spec, [], TimeSpan.FromSeconds(120), noWait: true);
                return report.ExitCode == 0
                    ? (service, (DeployReport?)report, (string?)null)
                    : (service, null, $"exit {report.ExitCode}: {report.Outcome} ({report.Reason})");
            }
            catch (BenchException ex)
            {
                return (service, (DeployReport?)null, (string?)ex.Message);
            }
            finally
            {
                gate.Release();
            }
        });
        return [.. await Task.WhenAll(tasks)];
    }

    /// <summary>Polls the active deployments every second until `until` holds for `count` of them (0: none active); checks serve each time.</summary>
    private async Task<int> WaitActiveAsync(ServeApi api, Func<(string Id, string Service, string State), bool> until, int count, TimeSpan limit, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            _serve!.EnsureServing();
            var active = await api.ActiveAsync();
            var matching = active.Count(until);
            if (count == 0 ? active.Count == 0 : matching >= count)
            {
                return matching;
            }

            if (sw.Elapsed > limit)
            {
                throw new BenchException($"waited {limit.TotalSeconds:0} s for {what}: {active.Count} deployments still active " +
                    $"({string.Join(", ", active.GroupBy(a => a.State).Select(g => $"{g.Count()} {g.Key}"))})");
            }

            await Task.Delay(1000);
        }
    }

    /// <summary>A canary that pauses at 10% on each of the services; returns the deployments that started.</summary>
    private async Task<List<(string Service, string Id)>> StartPausedAsync(ServeApi api, List<string> services, string image)
    {
        var sw = Stopwatch.StartNew();
        var submitted = await SubmitAsync(services.Select(n => WriteSpec(n, Specs.PausedCanary, null, 1, false, image, ScaleHealthCheck)).ToList());
        foreach (var (service, _, error) in submitted.Where(s => s.Report is null))
        {
            _results.Problems.Add($"could not start the paused canary of {service}: {error}");
        }

        var expected = submitted.Count(s => s.Report is not null);
        Scale.InProgress = await WaitActiveAsync(api, d => d.State == "Paused", expected, SettleLimit, $"{expected} canaries to reach their pause");
        Scale.InProgressSeconds = sw.Elapsed.TotalSeconds;
        Log($"  {Scale.InProgress} canaries paused at 10% after {Scale.InProgressSeconds:0.0} s");
        return [.. submitted.Where(s => s.Report is not null).Select(s => (s.Service, s.Report!.Id))];
    }

    /// <summary>`backstay rollback a b c …` in chunks, then waits until no deployment is active.</summary>
    private async Task RollBackAsync(ServeApi api, List<(string Service, string Id)> paused)
    {
        Scale.RollbackChunk = RollbackChunk;
        var sw = Stopwatch.StartNew();
        foreach (var chunk in paused.Select(p => p.Service).Chunk(RollbackChunk))
        {
            var result = await _cli.RunAsync(TimeSpan.FromSeconds(300), ["rollback", .. chunk, "--output", "json"]);
            Scale.RollbackCommandSeconds.Add(result.Elapsed.TotalSeconds);
            if (result.ExitCode is not (0 or 3))
            {
                _results.Problems.Add($"`backstay rollback {chunk[0]} … {chunk[^1]}` ({chunk.Length} services) exited {result.ExitCode}: {result.Stderr.Trim()}");
            }
        }

        await WaitActiveAsync(api, _ => true, 0, SettleLimit, "the rollbacks to finish");
        Scale.RollbackSeconds = sw.Elapsed.TotalSeconds;
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, id) in paused)
        {
            var (state, _) = await api.DeploymentAsync(id);
            outcomes[state] = outcomes.GetValueOrDefault(state) + 1;
        }

        Scale.RollbackOutcomes = string.Join(", ", outcomes.Select(o => $"{o.Value} {o.Key}"));
        Log($"  rolled back {paused.Count} in {Scale.RollbackSeconds:0.0} s ({Scale.RollbackOutcomes})");
    }

    private Task MeasureSpanAsync(ServeApi api, string when, int inProgress, int seconds) =>
        MeasureSpanAsync(api, when, Scale.Recorded, inProgress, seconds);

    /// <summary>A footprint sample and the engine's histograms over the same span (when serve's /metrics has them).</summary>
    private async Task MeasureSpanAsync(ServeApi? api, string when, int services, int inProgress, int seconds)
    {
        var before = api is null ? null : await api.MetricsAsync();
        var sw = Stopwatch.StartNew();
        var footprint = await FootprintSampler.SampleAsync(_serve!, when, services, inProgress, seconds);
        var after = api is null ? null : await api.MetricsAsync();
        _results.Footprints.Add(footprint);
        if (before is not null && after is not null)
        {
            Scale.Engine.Add(new EngineSpan(when, sw.Elapsed.TotalSeconds, after.Since(before)));
        }

        var instances = _serve!.PlatformPids().Instances;
        if (Scale.ImageRssKb is null && instances.Count > 0)
        {
            Scale.ImageRssKb = Stats.Median(instances.Take(50).Select(p => (double)(ProcFs.RssKb(p) ?? 0)));
        }
    }

    /// <summary>Warnings, errors and store-busy lines of serve's log, grouped by their shape (numbers and ids blanked).</summary>
    private void ReadServeLog(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }

        var levels = new Regex(@"^\d\d:\d\d:\d\d\.\d{3} (warn|fail|crit): ", RegexOptions.CultureInvariant);
        var groups = new Dictionary<string, (string Level, int Count, string First, string Example)>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(path))
        {
            Scale.LogLines++;
            var m = levels.Match(line);
            var busy = line.Contains("busy", StringComparison.OrdinalIgnoreCase) || line.Contains("database is locked", StringComparison.OrdinalIgnoreCase);
            if (!m.Success && !busy)
            {
                continue;
            }

            var level = m.Success ? m.Groups[1].Value : "busy";
            var text = m.Success ? line[m.Length..] : line;
            var shown = line.Replace(_work, "$WORK", StringComparison.Ordinal);
            var platformEvent = Regex.Match(text, @"^backstay\[100\] .*?: ([a-z]+\.[a-z.]+): ");
            var shape = platformEvent.Success
                ? $"platform event {platformEvent.Groups[1].Value} (serve logs every platform event at warning level)"
                : Regex.Replace(Regex.Replace(Regex.Replace(Regex.Replace(text, @"d-[A-Z0-9]{9}", "d-…"), @"fp-\d{4}-r\d+-[0-9a-f]{4}", "INSTANCE"), @"fp-\d{4}", "fp-…"), @"\d+", "#");
            shape = shape.Length > 160 ? shape[..160] + "…" : shape;
            var key = level + " " + shape;
            groups[key] = groups.TryGetValue(key, out var g) ? g with { Count = g.Count + 1, Example = g.Example } : (level, 1, line[..Math.Min(12, line.Length)], shown.Length > 400 ? shown[..400] + "…" : shown);
        }

        Scale.LogFindings.AddRange(groups.OrderByDescending(g => g.Value.Count).Take(15)
            .Select(g => new LogFinding(g.Value.Level, g.Key[(g.Value.Level.Length + 1)..], g.Value.Count, g.Value.First, g.Value.Example)));
    }
}

internal static class MetricsDelta
{
    /// <summary>Every engine histogram's change between two scrapes: summed over its label sets, and by label set ("family{labels}") when it has any.</summary>
    public static Dictionary<string, HistogramData> Since(this MetricsSnapshot after, MetricsSnapshot before)
    {
        var delta = new Dictionary<string, HistogramData>(StringComparer.Ordinal);
        foreach (var family in after.Histograms("backstay_engine_"))
        {
            var all = after.Histogram(family);
            delta[family] = all.Since(before.Histogram(family));
            foreach (var labels in all.LabelSets)
            {
                delta[$"{family}{{{labels}}}"] = after.Histogram(family, labels).Since(before.Histogram(family, labels));
            }
        }

        return delta;
    }
}
