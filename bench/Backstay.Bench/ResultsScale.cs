using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Backstay.Bench;

/// <summary>The footprint mode's results file, bench/results-footprint.md.</summary>
internal sealed partial class Results
{
    public ScaleRun Scale { get; } = new();

    private static string Mib(double? kb) => kb is { } k ? $"{k / 1024.0:0} MiB" : "–";

    private static string MibSpread(IEnumerable<double> kb) => Stats.Spread(kb.Select(k => k / 1024.0), " MiB");

    private static string Pct1(double? v) => v is { } x ? $"{x:0.0}%" : "–";

    private static string Secs(double? s) => s is { } x ? $"{x:0.0} s" : "–";

    /// <summary>Mean, and the buckets p50, p99 and the slowest observation fall in, in ms.</summary>
    private static string HistogramCell(HistogramData? h)
    {
        if (h is null || h.Count <= 0)
        {
            return "no observations";
        }

        static string Ms(double s) => (s * 1000).ToString("0.###", CultureInfo.InvariantCulture);
        string Q(double q) => h.Quantile(q) is { } b
            ? b.Lower == 0 ? $"≤ {Ms(b.Upper)} ms" : double.IsPositiveInfinity(b.Upper) ? $"> {Ms(b.Lower)} ms" : $"{Ms(b.Lower)}–{Ms(b.Upper)} ms"
            : "–";
        return $"mean {Ms(h.Mean!.Value)} ms; p50 {Q(0.5)}; p99 {Q(0.99)}; slowest {Q(1)}";
    }

    private Footprint? Moment(int inProgress, bool after = false) =>
        Footprints.Where(f => f.Services > 0 && f.InProgress == inProgress).Skip(after ? 1 : 0).FirstOrDefault();

    public string ToScaleMarkdown()
    {
        var md = new StringBuilder();
        var s = Scale;
        var idle = Moment(0);
        var busy = Footprints.FirstOrDefault(f => f.InProgress > 0);
        var afterRollback = Moment(0, after: true);
        md.AppendLine("# Backstay footprint at scale").AppendLine();
        md.AppendLine($"Written by `{Command}`. How it is measured: [README.md](README.md#5-footprint). Issue 6 asks for `serve` with " +
            $"{Settings.FootprintServices:N0} services recorded and {Settings.FootprintInProgress} deployments in progress.").AppendLine();
        AppendRunRows(md);
        md.AppendLine($"| Services | `fp-0001`…: local platform, 1 instance each of `bench/tiny-server.pl` (Perl, {Mib(s.ImageRssKb)} RSS each, median), rolling first deployment, health check by serve every 10 s (timeout 1 s); HAProxy checks every enabled server every 500 ms (fixed by Backstay) |");
        md.AppendLine($"| Submitted | `backstay deploy -f fp-NNNN/backstay.yaml --no-wait`, {Settings.FootprintParallel} CLI processes at once, in batches of {Settings.FootprintBatch} (each batch waited for through `GET /api/deployments?active=true`) |");
        md.AppendLine($"| serve's open-files limit | {s.OpenFilesLimit ?? "–"} (`ulimit -n`, inherited by HAProxy; the hard limit of this machine's sessions) |");
        md.AppendLine();

        md.AppendLine("## Headline").AppendLine();
        var inProgressEngine = s.Engine.FirstOrDefault(e => e.When == busy?.When);
        var idleEngine = s.Engine.FirstOrDefault(e => e.When == idle?.When);
        md.AppendLine(Text.Table(["Figure", "Measured"],
        [
            ["Services recorded (running)", $"**{s.Recorded}** (**{s.Running}** running) of {Settings.FootprintServices:N0} asked for" +
                (s.FirstFailure is null ? "" : $"; the first deployment that failed was {s.FirstFailure}, see below") + (s.CreateStopped is null ? "" : $"; adding services stopped {s.CreateStopped}")],
            ["Time to create them (first deployments, submit + wait)", $"{s.CreateSeconds:0} s for {s.Recorded} ({s.CreateSeconds / Math.Max(1, s.Recorded) * 1000:0} ms per service on average; per batch below)" +
                (s.SecondsToFirstFailure is { } ff ? $"; {ff:0} s until the first failure" : "")],
            [$"serve RSS, {idle?.Services} services idle", idle is null ? "–" : $"{MibSpread(idle.ServeRssSamplesKb)}; peak (VmHWM) so far {Mib(idle.ServePeakRssKb)}"],
            [$"serve CPU, {idle?.Services} services idle (% of one core, per second)", idle is null ? "–" : $"{Stats.Spread(idle.ServeCpuPerSecond, "%", "0.0")}; mean {Pct1(idle.ServeCpuPercent)}"],
            [$"serve RSS, {busy?.InProgress} deployments in progress", busy is null ? "–" : $"{MibSpread(busy.ServeRssSamplesKb)}; peak (VmHWM) so far {Mib(busy.ServePeakRssKb)}"],
            [$"serve CPU, {busy?.InProgress} deployments in progress", busy is null ? "–" : $"{Stats.Spread(busy.ServeCpuPerSecond, "%", "0.0")}; mean {Pct1(busy.ServeCpuPercent)}"],
            ["Instances (all), idle", idle is null ? "–" : $"{idle.Instances} processes: RSS total {Mib(idle.InstancesRssKb)}, PSS total {Mib(idle.InstancesPssKb)}, CPU {Pct1(idle.InstancesCpuPercent)}"],
            ["HAProxy, idle", idle is null ? "–" : $"RSS {Mib(idle.HaproxyRssKb)}, CPU {Pct1(idle.HaproxyCpuPercent)}"],
            ["SQLite files, after the rollbacks", afterRollback is null ? "–" : StoreCell(afterRollback)],
            [$"Time to put {s.InProgress} canaries in progress (submit → all paused at 10%)", Secs(s.InProgressSeconds)],
            [$"Time to roll {s.InProgress} back (`backstay rollback` {s.RollbackChunk} services at a time → none active)", $"{Secs(s.RollbackSeconds)}; commands {Stats.Spread(s.RollbackCommandSeconds, " s", "0.0")}; outcome: {s.RollbackOutcomes ?? "–"}"],
            .. EngineHeadline(idleEngine, inProgressEngine),
        ]));

        AppendScaleFindings(md);

        md.AppendLine("## serve at each moment").AppendLine();
        md.AppendLine("Median of serve's RSS every 250 ms (min–max), its CPU per whole second (median, p10–p90, min–max; % of one core), " +
            "and at the end of the span: peak RSS (VmHWM since start), threads, HAProxy, the instances (RSS counts the Perl binary's shared " +
            "pages once per process; PSS splits them), the whole machine's busy CPU (other sessions included) and the SQLite files.").AppendLine();
        md.AppendLine(Text.Table(["Moment", "Services", "In progress", "serve RSS", "serve CPU per second", "serve CPU (span)", "Peak RSS", "Threads", "HAProxy RSS / CPU", "Instances: n, RSS, PSS, CPU", "Machine busy", "SQLite", "Span"],
            Footprints.Select(f => (IReadOnlyList<string>)[
                f.When, f.Services.ToString(CultureInfo.InvariantCulture), f.InProgress.ToString(CultureInfo.InvariantCulture),
                MibSpread(f.ServeRssSamplesKb), Stats.Spread(f.ServeCpuPerSecond, "%", "0.0"), Pct1(f.ServeCpuPercent), Mib(f.ServePeakRssKb),
                f.ServeThreads?.ToString(CultureInfo.InvariantCulture) ?? "–", $"{Mib(f.HaproxyRssKb)} / {Pct1(f.HaproxyCpuPercent)}",
                $"{f.Instances}, {Mib(f.InstancesRssKb)}, {Mib(f.InstancesPssKb)}, {Pct1(f.InstancesCpuPercent)}", Pct1(f.MachineCpuPercent), StoreCell(f), $"{f.SampleSeconds:0} s",
            ])));

        AppendEngine(md);
        AppendBatches(md);

        if (Timings.Count > 0)
        {
            md.AppendLine("## `status` at scale").AppendLine();
            md.AppendLine(Text.Table(["Command", "Median", "min–max", "Runs", "Measured with"], Timings.Select(t => (IReadOnlyList<string>)[
                t.Name, Text.Ms(Stats.Median(t.Ms)), t.Ms.Count == 0 ? "–" : $"{t.Ms.Min():0}–{t.Ms.Max():0} ms", t.Ms.Count.ToString(CultureInfo.InvariantCulture), t.Tool,
            ])));
        }

        md.AppendLine("## Clean-up").AppendLine();
        md.AppendLine($"- serve stopped {Secs(s.ServeStopSeconds)} after SIGTERM (it stops every instance and HAProxy first); {LeftoverCheck}.");
        md.AppendLine($"- Phase times: {string.Join(", ", PhaseSeconds.Select(p => $"{p.Key} {p.Value:0} s"))}.");
        md.AppendLine();
        if (ServeLogTail is not null)
        {
            md.AppendLine("<details><summary>Last lines of serve's log</summary>").AppendLine().AppendLine("```").AppendLine(ServeLogTail).AppendLine("```").AppendLine("</details>");
        }

        return md.ToString();
    }

    private static string StoreCell(Footprint f) => f.StoreFiles.Count == 0
        ? "–"
        : string.Join(", ", f.StoreFiles.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key} {x.Value / 1024.0 / 1024.0:0.0} MiB"));

    private IEnumerable<IReadOnlyList<string>> EngineHeadline(EngineSpan? idle, EngineSpan? busy)
    {
        if (Scale.EngineFamilies.Count == 0)
        {
            yield return ["Engine time per decision", "not measured: this build's /metrics has no `backstay_engine_*` histogram"];
            yield break;
        }

        foreach (var family in Scale.EngineFamilies)
        {
            foreach (var span in new[] { idle, busy }.OfType<EngineSpan>())
            {
                yield return [$"`{family}`, {span.When}", HistogramCell(span.Histograms.GetValueOrDefault(family))];
            }
        }
    }

    private void AppendScaleFindings(StringBuilder md)
    {
        md.AppendLine("## What broke or looked wrong").AppendLine();
        if (Scale.CreateFailures.Count == 0 && Scale.CreateStopped is null && Problems.Count == 0 && Scale.LogFindings.Count == 0)
        {
            md.AppendLine("Nothing: every deployment did what it should and serve logged no warning or error.").AppendLine();
            return;
        }

        if (Scale.CreateFailures.Count > 0)
        {
            md.AppendLine($"- {Scale.CreateFailures.Count} first deployments failed, the first at {Scale.FirstFailure}; by reason (numbers as #):");
            foreach (var g in Scale.CreateFailures.GroupBy(f => $"{f.State}: {Regex.Replace(f.Reason, @"\d+", "#")}").OrderByDescending(g => g.Count()))
            {
                var first = g.First();
                md.AppendLine($"  - {g.Count()}× (first {first.Service}, {first.Id ?? "not submitted"}) {first.State}: {first.Reason.Replace(Scale.WorkDirectory ?? "\u0000", "$WORK", StringComparison.Ordinal)}");
            }
        }

        if (Scale.CreateStopped is not null)
        {
            md.AppendLine($"- Adding services stopped {Scale.CreateStopped}.");
        }

        foreach (var p in Problems)
        {
            md.AppendLine($"- {p}");
        }

        md.AppendLine();
        if (Scale.LogFindings.Count > 0)
        {
            md.AppendLine($"serve's log ({Scale.LogLines} lines): warnings, errors and store-busy lines, grouped by shape (numbers as #), most frequent first.").AppendLine();
            md.AppendLine(Text.Table(["Level", "Kind", "Count", "First at", "Example"], Scale.LogFindings.Select(f => (IReadOnlyList<string>)[
                f.Level, f.Shape, f.Count.ToString(CultureInfo.InvariantCulture), f.First, "`" + f.Example.Replace("`", "'", StringComparison.Ordinal) + "`",
            ])));
        }
    }

    private void AppendEngine(StringBuilder md)
    {
        md.AppendLine("## Engine time per decision").AppendLine();
        if (Scale.EngineFamilies.Count == 0)
        {
            md.AppendLine("Not measured: serve's `/metrics` had no `backstay_engine_*` histogram in this build.").AppendLine();
            return;
        }

        var bounds = Scale.Engine.SelectMany(e => e.Histograms.Values).FirstOrDefault()?.Buckets.Keys.Where(double.IsFinite).ToList() ?? [];
        md.AppendLine("From serve's own histograms on `/metrics` (read with the read-only token before and after each span; the " +
            "difference is what the span added). Mean = sum / count; p50, p99 and the slowest are the buckets they fall in (upper bounds " +
            string.Join(", ", bounds.Select(b => $"{b * 1000:0.###}")) + " ms): a histogram knows no more than that.").AppendLine();
        var rows = new List<IReadOnlyList<string>>();
        foreach (var span in Scale.Engine)
        {
            foreach (var (family, h) in span.Histograms.Where(x => x.Value.Count > 0 || !x.Key.Contains('{', StringComparison.Ordinal)))
            {
                rows.Add([
                    $"`{family}`", span.When, $"{span.Seconds:0} s", h.Count.ToString("0", CultureInfo.InvariantCulture),
                    (h.Count / span.Seconds).ToString("0.0", CultureInfo.InvariantCulture), HistogramCell(h),
                    family.Contains('{', StringComparison.Ordinal) ? "" : string.Join("; ", h.LabelSets),
                ]);
            }
        }

        md.AppendLine(Text.Table(["Histogram", "Span", "Length", "Observations", "Per second", "Time", "Label sets (summed)"], rows));
    }

    private void AppendBatches(StringBuilder md)
    {
        md.AppendLine("## Creating the services, batch by batch").AppendLine();
        md.AppendLine($"Each batch: {Settings.FootprintBatch} specs deployed with `--no-wait` ({Settings.FootprintParallel} CLI processes at once), then " +
            "waited for until no deployment is active. Submit = until the last CLI returned; settle = until the last deployment finished. " +
            "serve and HAProxy RSS right after the batch; the observation pass (one pass records every service's platform state, every 2 s) " +
            "is the mean of its histogram over the batch.").AppendLine();
        md.AppendLine(Text.Table(["Services after", "Succeeded", "Submit", "Settle", "Per service", "serve RSS", "HAProxy RSS", "Observation pass", "Passes per second", "Memory available", "Load average (1 min)"],
            Scale.Batches.Select(b => (IReadOnlyList<string>)[
                b.Services.ToString(CultureInfo.InvariantCulture), $"{b.Succeeded}/{b.Submitted}", Secs(b.SubmitSeconds), Secs(b.SettleSeconds),
                $"{b.SettleSeconds / Math.Max(1, b.Submitted) * 1000:0} ms", Mib(b.ServeRssKb), Mib(b.HaproxyRssKb),
                b.ObserveMeanMs is { } o ? $"{o:0} ms" : "–", b.ObservePassesPerSecond is { } p ? p.ToString("0.00", CultureInfo.InvariantCulture) : "–",
                $"{b.MemAvailableGiB:0.0} GiB", b.LoadAverage,
            ])));
    }
}
