using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Backstay.Bench;

/// <summary>Everything measured in one run of the benchmark, and its rendering as bench/results.md.</summary>
internal sealed partial class Results(Settings settings, string command, string repo, string cliDll, string? r2rDll, string? r2rNote)
{
    public Settings Settings { get; } = settings;
    public string Repo { get; } = repo;
    public string CliDll { get; } = cliDll;

    /// <summary>`backstay --version` of the build the run used, read at its start.</summary>
    public string? CliVersion { get; set; }
    public string? CliNote { get; set; }
    public string Command { get; } = command;
    public string? R2rDll { get; } = r2rDll;
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset Finished { get; set; }
    public double Seconds { get; set; }
    public string LoadAtStart { get; } = ProcFs.LoadAverage();
    public List<(Run Run, LoadView Load, SafetyView Safety)> Runs { get; } = [];
    public List<Footprint> Footprints { get; } = [];
    public List<Timing> Timings { get; } = [];
    public List<string> Problems { get; } = [];
    public List<string> LoadSummaries { get; } = [];
    public Dictionary<string, List<string>> Notes { get; } = new(StringComparer.Ordinal);

    public void Note(string message, string deploymentId)
    {
        if (!Notes.TryGetValue(message, out var ids))
        {
            Notes[message] = ids = [];
        }

        ids.Add(deploymentId);
    }
    public Dictionary<string, double> PhaseSeconds { get; } = new(StringComparer.Ordinal);
    public string LeftoverCheck { get; set; } = "not checked";
    public string? ServeLogTail { get; set; }

    private static string Ms(IEnumerable<double?> values) => Stats.Spread(values.Where(v => v.HasValue).Select(v => v!.Value), " ms");

    private static string Rel(string path, string repo) => path.StartsWith(repo, StringComparison.Ordinal) ? path[(repo.Length + 1)..] : path;

    private static string Version(string dll)
    {
        var r = Proc.RunAsync("dotnet", [dll, "--version"], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        return r.Stdout.Trim();
    }

    /// <summary>The first rows of a results file's table: when, what, on which machine and build.</summary>
    private void AppendRunRows(StringBuilder md)
    {
        md.AppendLine("| | |").AppendLine("| --- | --- |");
        md.AppendLine($"| Date | {Started:yyyy-MM-dd HH:mm} UTC, {Seconds / 60:0.0} min |");
        md.AppendLine($"| Command | `{Command}` |");
        md.AppendLine($"| Machine | {Environment.ProcessorCount} CPUs (`nproc`), {ProcFs.MemTotalGiB():0.0} GiB memory, {ProcFs.CpuModel()}, Linux {ProcFs.Kernel()} |");
        md.AppendLine($"| Load average | {LoadAtStart} at the start, {ProcFs.LoadAverage()} at the end (the machine is shared; other work ran beside this) |");
        md.AppendLine($"| .NET | {Environment.Version} runtime |");
        md.AppendLine($"| Backstay | `{CliVersion ?? Version(CliDll)}`, `{Rel(CliDll, Repo)}` (Release, framework-dependent, JIT){(CliNote is null ? "" : $"; {CliNote}")} |");
    }

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        var bad = Runs.Where(r => r.Run.Kind is "bad" or "bad-rate").ToList();
        var good = Runs.Where(r => r.Run.Kind == "good").ToList();
        var noise = Runs.Where(r => r.Run.Kind == "noise").ToList();
        var threshold = Runs.Where(r => r.Run.Kind == "threshold").ToList();

        md.AppendLine("# Backstay benchmark results").AppendLine();
        md.AppendLine($"Written by `{Command}` ({Settings.Mode} mode). How each figure is measured: [README.md](README.md).").AppendLine();
        AppendRunRows(md);
        md.AppendLine($"| ReadyToRun CLI | {(R2rDll is null ? "not present" : $"`{Rel(R2rDll, repo)}`")}{(r2rNote is null ? "" : $" — {r2rNote}")} |");
        md.AppendLine($"| Load | a separate process (`backstay-bench load`): open loop, {Settings.Rate} requests/s{(Settings.ExtraRates.Length > 0 ? $" (and {string.Join(", ", Settings.ExtraRates)} for one row)" : "")}, HTTP/1.1 keep-alive, 5 s timeout, every response logged with its X-Revision; same machine |");
        md.AppendLine($"| Platform | `backstay serve` (local platform: hello sample processes behind HAProxy), 3 instances per service, health check every 250 ms |");
        md.AppendLine();

        md.AppendLine("## Headline").AppendLine();
        var atDefaults = bad.Where(r => r.Run.Window == "10s" && r.Run.Rate == Settings.Rate).ToList();
        var lostGood = good.Sum(r => r.Load.Failed);
        var lostRollback = bad.Sum(r => r.Load.LostBeyondBad);
        md.AppendLine(Text.Table(["Figure", "Measured", "Goal"],
        [
            [$"Time to safety, bad canary/linear/blue-green/rolling at the default 10 s window, {Settings.Rate} req/s (Backstay's record)", Ms(atDefaults.Select(r => (double?)r.Safety.TimeToSafetyMs)), "< 1 s"],
            ["Same, from the load process (first 5xx of the bad revision → its last response)", Ms(atDefaults.Select(r => r.Load.TimeToSafetyMs)), "< 1 s"],
            ["Requests lost during good deployments (all strategies)", $"{lostGood} of {good.Sum(r => r.Load.Requests)} in {good.Count} deployments", "0"],
            ["Requests lost during rollbacks beyond those the bad revision served", $"{lostRollback} of {bad.Sum(r => r.Load.Requests)} in {bad.Count} rollbacks", "0"],
            ["False rollbacks (revision failing 0.5% at random, default analysis)", noise.Count == 0 ? $"not measured ({Settings.Mode} mode)" : $"{noise.Count(r => r.Run.Report.Outcome == "RolledBack")} of {noise.Count}", "0"],
            ["Smallest error rate the defaults caught every time", SmallestCaught(threshold), "(limit is 5%)"],
            ["`--version` (ReadyToRun, apphost)", TimingCell("`backstay --version` (apphost, ReadyToRun)"), "< 60 ms"],
            ["`--version` (`dotnet backstay.dll`, JIT)", TimingCell("`dotnet backstay.dll --version` (Release build, JIT)"), "< 60 ms"],
            ["serve memory (RSS) with the most services recorded", Footprints.Count == 0 ? "–" : $"{Footprints.Max(f => f.ServeRssKb ?? 0) / 1024.0:0} MiB ({Footprints.Max(f => f.Services)} services)", "–"],
        ]));

        if (Notes.Count > 0)
        {
            md.AppendLine("## Product behaviour noticed during this run").AppendLine();
            foreach (var (note, ids) in Notes)
            {
                md.AppendLine($"- {note} ({ids.Count}×: {string.Join(", ", ids.Take(5))}{(ids.Count > 5 ? ", …" : "")}).");
            }

            md.AppendLine();
        }

        if (Problems.Count > 0)
        {
            md.AppendLine("## Problems found in this run").AppendLine();
            foreach (var p in Problems)
            {
                md.AppendLine($"- {p}");
            }

            md.AppendLine();
        }

        AppendTimeToSafety(md, bad);
        AppendRequestsLost(md, good, bad);
        AppendNoise(md, noise, threshold);
        AppendStartup(md);
        AppendFootprint(md);

        md.AppendLine("## 6. AWS API calls per deployment — not yet measured: needs the ECS platform").AppendLine();
        md.AppendLine("Not yet measured: needs the ECS platform (being written). The plan: run the same deployments against moto " +
            "(`python3 -m moto.server -H 127.0.0.1 -p PORT`, `AWS_ENDPOINT_URL`), per strategy and outcome (succeeded, rolled back) and for " +
            "1, 10 and 100 services at once; count calls with a counter Backstay exposes and check them against moto's request log. " +
            "Backstay has no such counter yet (see README, \"What the product lacks\").").AppendLine();

        AppendOtherTools(md);

        md.AppendLine("## Caveats").AppendLine();
        md.AppendLine("- One 2-CPU machine runs everything: serve, HAProxy, up to ~60 hello processes, the load process and the CLI. The load generator competes for the same CPUs, and the machine is shared with other work (see the load average above). Figures are for this machine, not a data centre.");
        md.AppendLine("- Time to safety is wall-clock on one machine, so Backstay's timestamps and the load process's are on the same clock. Backstay's record gives `timeToSafetyMs` = SafeAt − firstErrorAt; firstErrorAt itself is not in the JSON, so the split into detect/switch uses firstErrorAt ≈ (rollback's Safe event − timeToSafetyMs), good to a few ms.");
        md.AppendLine("- The load process's view counts a response by when it arrived; requests already in flight to the bad revision when its weight went to 0 still complete, so its last response can come a little after SafeAt. \"Sent after weight 0 and still served by the bad revision\" counts requests that left the client after SafeAt and were nevertheless answered by the bad revision (should be 0).");
        md.AppendLine("- Health checks are set fast (250 ms, as in `backstay demo`) to keep runs short; analysis settings are the product defaults unless a table says otherwise.");
        md.AppendLine($"- Runs per cell are few in quick mode; use the full run for decisions. Loads: {string.Join("; ", LoadSummaries)}.");
        md.AppendLine($"- Clean-up: {LeftoverCheck}.");
        md.AppendLine($"- Phase times: {string.Join(", ", PhaseSeconds.Select(p => $"{p.Key} {p.Value:0} s"))}.");
        md.AppendLine();
        AppendRaw(md);
        if (ServeLogTail is not null)
        {
            md.AppendLine("<details><summary>Last lines of serve's log</summary>").AppendLine().AppendLine("```").AppendLine(ServeLogTail).AppendLine("```").AppendLine("</details>");
        }

        return md.ToString();
    }

    private string TimingCell(string name)
    {
        var t = Timings.FirstOrDefault(x => x.Name == name);
        return t is null ? "not measured" : Stats.Spread(t.Ms, " ms");
    }

    private static string SmallestCaught(List<(Run Run, LoadView Load, SafetyView Safety)> threshold)
    {
        if (threshold.Count == 0)
        {
            return "not measured";
        }

        var always = threshold.GroupBy(r => r.Run.ErrorRate).Where(g => g.All(r => r.Run.Report.Outcome == "RolledBack")).Select(g => g.Key).ToList();
        var tried = string.Join(", ", threshold.Select(r => r.Run.ErrorRate).Distinct().OrderByDescending(x => x).Select(Pct));
        return always.Count == 0 ? $"none of {tried}" : $"{Pct(always.Min())} (tried {tried})";
    }

    private static string Pct(double fraction) => (fraction * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private void AppendTimeToSafety(StringBuilder md, List<(Run Run, LoadView Load, SafetyView Safety)> bad)
    {
        md.AppendLine("## 1. Time to safety").AppendLine();
        md.AppendLine("A bad revision (`ERROR_RATE=0.3`: 30% of requests answer 500) is deployed over a good one under steady load. " +
            "Time to safety runs from the first failed response it served to its production weight reaching 0. The analysis window " +
            "(`analysis.window`, and the canary's analysis steps / linear interval / blue-green bake) is the variable; every other " +
            "analysis setting is the default. Each cell: median (min–max; n).").AppendLine();
        var rows = new List<string[]>();
        foreach (var g in bad.GroupBy(r => (r.Run.Strategy, r.Run.Window, r.Run.Rate)))
        {
            var list = g.ToList();
            rows.Add([
                g.Key.Strategy, g.Key.Window, g.Key.Rate.ToString(CultureInfo.InvariantCulture), $"{list.Count(r => r.Run.Report.Outcome == "RolledBack")}/{list.Count}",
                Ms(list.Select(r => (double?)r.Safety.TimeToSafetyMs)),
                Ms(list.Select(r => r.Load.TimeToSafetyMs)),
                Ms(list.Select(r => r.Safety.DetectMs)),
                Ms(list.Select(r => r.Safety.SwitchMs)),
                Ms(list.Select(r => r.Load.FirstBad5xx is { } l && r.Safety.FirstErrorAt is { } b ? (double?)(l - b).TotalMilliseconds : null)),
                $"{list.Sum(r => r.Load.BadServed)} / {list.Sum(r => r.Load.BadFailed)}",
                list.Sum(r => r.Load.LostBeyondBad).ToString(CultureInfo.InvariantCulture),
                $"{list.Sum(r => r.Load.BadSentAfterSafe)}" + (list.Max(r => r.Load.MaxBadSentAfterSafeMs) is { } late ? $" (up to {late:0} ms after)" : ""),
            ]);
        }

        md.AppendLine(Text.Table(
            ["Strategy", "Window", "Load (req/s)", "Rolled back", "Time to safety (Backstay's record)", "Time to safety (load process)", "Detect: first error → Failed",
                "Switch: failure verdict → weight 0", "First 5xx: load − Backstay", "Bad revision served / failed", "Lost beyond bad revision", "Sent after weight 0, served by bad"],
            rows));
        md.AppendLine("Backstay's record: `timeToSafetyMs` of `backstay deploy --output json`. Load process: its first 5xx carrying the bad " +
            "revision's X-Revision to the last response carrying it. \"First 5xx: load − Backstay\" compares when the load process received " +
            "the first failure with Backstay's firstErrorAt (HAProxy's log line reaching serve): near 0 means both see the same event. " +
            "The load process's view ends at the last response the bad revision happened to serve: at 10% of 300 req/s it serves one request " +
            "about every 33 ms, so this view can end a few tens of ms before SafeAt. " +
            "Detect + switch = Backstay's time to safety. Detection needs `minRequests` (20) requests of the new revision in the window, so at a canary " +
            "weight of 10% it takes about 20 / (0.1 × load) seconds: the lower-rate row shows how the figure depends on the traffic the canary gets.").AppendLine();
    }

    private static void AppendRequestsLost(StringBuilder md, List<(Run Run, LoadView Load, SafetyView Safety)> good, List<(Run Run, LoadView Load, SafetyView Safety)> bad)
    {
        md.AppendLine("## 2. Requests lost").AppendLine();
        md.AppendLine("**Good deployments** (no errors, `ERROR_RATE` unset) under steady load: every failed request the load process saw " +
            "(5xx, or no answer) from just before `backstay deploy` until 1 s after it returned — the old revision is scaled to 0 inside that span. Goal: 0.").AppendLine();
        var rows = good.GroupBy(r => r.Run.Strategy).Select(g => (IReadOnlyList<string>)[
            g.Key, g.Count().ToString(CultureInfo.InvariantCulture),
            $"{g.Count(r => r.Run.Report.Outcome == "Succeeded")}/{g.Count()}",
            g.Sum(r => r.Load.Requests).ToString(CultureInfo.InvariantCulture),
            g.Sum(r => r.Load.Failed).ToString(CultureInfo.InvariantCulture),
            g.Max(r => r.Load.Failed).ToString(CultureInfo.InvariantCulture),
            Stats.Spread(g.Select(r => ((r.Run.Report.FinishedAt ?? r.Run.To) - r.Run.Report.CreatedAt).TotalSeconds), " s", "0.0"),
        ]).ToList();
        md.AppendLine(Text.Table(["Strategy", "Deployments", "Succeeded", "Requests seen", "Failed (total)", "Failed (worst run)", "Deployment duration"], rows));
        md.AppendLine("Good-deployment steps: canary 10% → analysis 3 s → 50% → analysis 3 s → 100%; linear 25% every 2 s; blue/green with test " +
            "traffic, bake 3 s, previous set kept 2 s; rolling one instance at a time. Analysis at the defaults.").AppendLine();
        md.AppendLine("**Rollbacks**: failed requests during the bad deployments of section 1 that the bad revision did not serve itself " +
            "(5xx from the stable revision, HAProxy's own 503s, connection errors). Goal: 0.").AppendLine();
        var rb = bad.GroupBy(r => r.Run.Strategy).Select(g => (IReadOnlyList<string>)[
            g.Key, g.Count().ToString(CultureInfo.InvariantCulture), g.Sum(r => r.Load.Requests).ToString(CultureInfo.InvariantCulture),
            g.Sum(r => r.Load.BadFailed).ToString(CultureInfo.InvariantCulture), g.Sum(r => r.Load.LostBeyondBad).ToString(CultureInfo.InvariantCulture),
            g.Max(r => r.Load.LostBeyondBad).ToString(CultureInfo.InvariantCulture),
        ]).ToList();
        md.AppendLine(Text.Table(["Strategy", "Rollbacks", "Requests seen", "Failed, served by the bad revision", "Lost beyond the bad revision (total)", "(worst run)"], rb));
    }

    private static void AppendNoise(StringBuilder md, List<(Run Run, LoadView Load, SafetyView Safety)> noise, List<(Run Run, LoadView Load, SafetyView Safety)> threshold)
    {
        md.AppendLine("## 3. False rollbacks and the smallest error rate caught").AppendLine();
        md.AppendLine("Spec: the README's canary (10% → analysis → 50% → analysis → 100%) with every analysis setting at the product default " +
            "(window 10 s, minRequests 20, errorRate max 5% judged on the 95% Wilson lower bound, 2 consecutive bad evaluations, every 100 ms).").AppendLine();
        if (noise.Count > 0)
        {
            var rolled = noise.Where(r => r.Run.Report.Outcome == "RolledBack").ToList();
            md.AppendLine($"**False rollbacks**: {noise.Count} good deployments whose revision fails 0.5% of requests at random (`ERROR_RATE=0.005`): " +
                $"**{rolled.Count} rolled back**, {noise.Count(r => r.Run.Report.Outcome == "Succeeded")} succeeded. " +
                $"Error rate the load process saw from the new revisions: {Stats.Spread(noise.Where(r => r.Load.ObservedErrorRate.HasValue).Select(r => r.Load.ObservedErrorRate!.Value * 100), "%", "0.00")}, " +
                $"over {Stats.Spread(noise.Select(r => (double)r.Load.BadServed), " requests")} per deployment.").AppendLine();
            foreach (var r in rolled)
            {
                md.AppendLine($"- {r.Run.Report.Id}: {r.Run.Report.Reason}");
            }

            md.AppendLine();
        }

        if (threshold.Count > 0)
        {
            md.AppendLine("**Smallest error rate caught**: the same spec, revisions failing a given fraction of requests at random.").AppendLine();
            var rows = threshold.GroupBy(r => r.Run.ErrorRate).OrderByDescending(g => g.Key).Select(g => (IReadOnlyList<string>)[
                Pct(g.Key), $"{g.Count(r => r.Run.Report.Outcome == "RolledBack")}/{g.Count()}",
                Ms(g.Where(r => r.Run.Report.Outcome == "RolledBack").Select(r => r.Run.Report.First("Failed", r.Run.Report.Id)?.At is { } f && r.Run.Report.FirstTrafficAt is { } t ? (double?)(f - t).TotalMilliseconds : null)),
                string.Join(", ", g.Select(r => r.Run.Report.WeightAtFailure()).Where(w => w.HasValue).Select(w => $"{w}%").Distinct()),
                Ms(g.Select(r => (double?)r.Safety.TimeToSafetyMs)),
                Stats.Spread(g.Where(r => r.Load.ObservedErrorRate.HasValue).Select(r => r.Load.ObservedErrorRate!.Value * 100), "%", "0.0"),
            ]).ToList();
            md.AppendLine(Text.Table(["Error rate", "Rolled back", "Caught after (first traffic → Failed)", "Weight when caught", "Time to safety", "Error rate the load process saw"], rows));
        }
    }

    private void AppendStartup(StringBuilder md)
    {
        md.AppendLine("## 4. Start-up").AppendLine();
        md.AppendLine("Wall time of one CLI invocation, from process start to exit (hyperfine `-N`, 3 warm-up runs). `status` runs against the running " +
            "serve's state directory (it reads the SQLite store and the platform's last observations). Goal stated in issue 6: `--version` under 60 ms.").AppendLine();
        md.AppendLine(Text.Table(["Command", "Median", "p10–p90", "min–max", "Runs", "Measured with"], Timings.Select(t => (IReadOnlyList<string>)[
            t.Name, Text.Ms(Stats.Median(t.Ms)), $"{Stats.Percentile(t.Ms, 0.1):0}–{Stats.Percentile(t.Ms, 0.9):0} ms",
            t.Ms.Count == 0 ? "–" : $"{t.Ms.Min():0}–{t.Ms.Max():0} ms", t.Ms.Count.ToString(CultureInfo.InvariantCulture), t.Tool,
        ])));
    }

    private void AppendFootprint(StringBuilder md)
    {
        md.AppendLine("## 5. Footprint of `serve`").AppendLine();
        md.AppendLine("Read from /proc: serve's resident memory (median of samples every 250 ms) and CPU (utime+stime over the sample span), " +
            "HAProxy's RSS, and the hello instances (each a separate .NET process, listed for scale). Services are recorded in SQLite and " +
            "running on the local platform, so this run stays at a few dozen; serve with hundreds of services (a tiny Perl server as their image) " +
            "and 100 deployments in progress is measured by `bench/run --footprint` into [results-footprint.md](results-footprint.md).").AppendLine();
        md.AppendLine(Text.Table(["Moment", "Services", "In progress", "serve RSS", "serve peak RSS", "serve CPU", "Threads", "HAProxy RSS", "Instances (RSS total)", "SQLite files", "Sampled"],
            Footprints.Select(f => (IReadOnlyList<string>)[
                f.When, f.Services.ToString(CultureInfo.InvariantCulture), f.InProgress.ToString(CultureInfo.InvariantCulture),
                Kb(f.ServeRssKb), Kb(f.ServePeakRssKb), f.ServeCpuPercent is { } c ? $"{c:0.0}%" : "–", f.ServeThreads?.ToString(CultureInfo.InvariantCulture) ?? "–",
                Kb(f.HaproxyRssKb), $"{f.Instances} ({Kb(f.InstancesRssKb)})", f.StoreBytes is { } b ? $"{b / 1024.0:0} KiB" : "–", $"{f.SampleSeconds:0} s",
            ])));
        var busy = Footprints.FirstOrDefault(f => f.InProgress > 0);
        var idle = busy is null ? null : Footprints.LastOrDefault(f => f.InProgress == 0 && f.Services == busy.Services && Footprints.IndexOf(f) < Footprints.IndexOf(busy));
        var measured = Scale.Engine.FirstOrDefault(e => e.When == busy?.When);
        if (measured is not null && measured.Histograms.Count > 0)
        {
            md.AppendLine($"**Engine time per decision** (serve's own histograms on `/metrics`, over the {measured.Seconds:0} s span with {busy!.InProgress} deployments in progress):").AppendLine();
            foreach (var (family, h) in measured.Histograms.Where(h => !h.Key.Contains('{', StringComparison.Ordinal)))
            {
                md.AppendLine($"- `{family}`: {h.Count:0} observations, {HistogramCell(h)}");
            }

            md.AppendLine();
        }
        else if (busy?.ServeCpuPercent is { } b2 && idle?.ServeCpuPercent is { } i2)
        {
            var perSecond = busy.InProgress * 10.0;
            var msPerDecision = Math.Max(0, b2 - i2) / 100 * 1000 / perSecond;
            md.AppendLine($"**Engine time per decision (derived, not measured inside the engine)**: {busy.InProgress} paused deployments tick every 100 ms " +
                $"({perSecond:0} evaluations/s). serve's CPU went from {i2:0.0}% to {b2:0.0}%, i.e. about **{msPerDecision:0.00} ms of CPU per tick** of one deployment " +
                "(store reads for commands, instance health, metrics evaluation, a progress write every 500 ms) — an upper bound on the decision itself. " +
                "This build of serve exposes no engine histogram on /metrics.").AppendLine();
        }
        else
        {
            md.AppendLine("Engine time per decision: not measured.").AppendLine();
        }
    }

    private static string Kb(long? kb) => kb is { } k ? $"{k / 1024.0:0} MiB" : "–";

    private static void AppendOtherTools(StringBuilder md)
    {
        md.AppendLine("## 7. Beside the tools a user would otherwise pick (published figures, not measured here)").AppendLine();
        md.AppendLine("None of these can run on this machine (they need AWS or Kubernetes), so their documented behaviour is quoted with its source. " +
            "They bound how fast an alarm- or metrics-driven rollback can start; Backstay's figure above is from first failed response to weight 0.").AppendLine();
        md.AppendLine(Text.Table(["Tool", "What triggers a rollback", "Published timing", "Source"],
        [
            ["CloudWatch alarms (used by CodeDeploy and ECS deployment alarms)", "metric alarm state ALARM",
                "Period 10, 20 or 30 s only for high-resolution metrics (StorageResolution 1), else a multiple of 60 s; alarms with a 1-minute-or-longer period are evaluated every minute, 10/30 s alarms every 10 s; the state must breach for EvaluationPeriods (M of N) periods",
                "AWS CloudWatch API reference, PutMetricAlarm `Period` (docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html); CloudWatch User Guide, *Using Amazon CloudWatch alarms* (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)"],
            ["AWS CodeDeploy (ECS blue/green, canary, linear)", "an associated CloudWatch alarm is activated → deployment Stopped, optional automatic rollback",
                "inherits the alarm's period and evaluation periods above (≥ 10 s high-resolution, ≥ 60 s standard, plus evaluation periods); predefined ECS configurations shift traffic e.g. 10% for 5 minutes (CodeDeployDefault.ECSCanary10Percent5Minutes)",
                "CodeDeploy User Guide, *Monitoring deployments with CloudWatch alarms* (docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-create-alarms.html) and *Working with deployment configurations* (…/deployment-configurations.html); AWS CDK `EcsDeploymentConfig.CANARY_10PERCENT_5MINUTES` (docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_codedeploy.EcsDeploymentConfig.html)"],
            ["Amazon ECS deployment circuit breaker", "tasks that fail to start or fail health checks, not the revision's error rate",
                "fails the deployment after a threshold of failed tasks: 0.5 × desired count, minimum 3, maximum 200 (by default); a revision that starts and passes health checks but answers 30% 500s is never caught by it",
                "Amazon ECS API reference, ServiceDeploymentCircuitBreaker / ThresholdConfiguration (docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentCircuitBreaker.html)"],
            ["Amazon ECS deployment alarms", "CloudWatch alarm in ALARM during the deployment and a bake time after it",
                "alarm timing as above; the bake time is computed by ECS from the alarm configuration and cannot be set",
                "Amazon ECS Developer Guide, *How CloudWatch alarms detect Amazon ECS deployment failures* (docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html)"],
            ["Argo Rollouts", "AnalysisRun failed (metric provider queries at the metric's `interval`, `failureLimit` failures) → abort, canary weight set back to 0",
                "no built-in figure: bounded by the analysis interval and failureLimit you configure plus the metric source's scrape delay; the documentation's background-analysis example measures every 5 minutes with failureLimit 3",
                "Argo Rollouts docs, *Analysis & Progressive Delivery* (argo-rollouts.readthedocs.io/en/stable/features/analysis/; github.com/argoproj/argo-rollouts docs/features/analysis.md)"],
        ]));
    }

    private void AppendRaw(StringBuilder md)
    {
        md.AppendLine("<details><summary>Every deployment of this run</summary>").AppendLine();
        md.AppendLine(Text.Table(["Kind", "Strategy", "Window @req/s", "Error rate", "Deployment", "Revision", "Outcome", "TTS Backstay", "TTS load", "Requests", "Failed", "Bad served/failed", "Lost beyond bad", "Reason"],
            Runs.Select(r => (IReadOnlyList<string>)[
                r.Run.Kind, r.Run.Strategy, $"{r.Run.Window} @{r.Run.Rate}", Pct(r.Run.ErrorRate), r.Run.Report.Id, r.Run.Report.Revision.ToString(CultureInfo.InvariantCulture),
                r.Run.Report.Outcome, Text.Ms(r.Safety.TimeToSafetyMs), Text.Ms(r.Load.TimeToSafetyMs), r.Load.Requests.ToString(CultureInfo.InvariantCulture),
                r.Load.Failed.ToString(CultureInfo.InvariantCulture), $"{r.Load.BadServed}/{r.Load.BadFailed}", r.Load.LostBeyondBad.ToString(CultureInfo.InvariantCulture),
                r.Run.Report.Reason ?? "",
            ])));
        md.AppendLine("</details>").AppendLine();
    }

    public string RawJson() => JsonSerializer.Serialize(new
    {
        settings = Settings,
        command = Command,
        started = Started,
        finished = Finished,
        problems = Problems,
        runs = Runs.Select(r => new { r.Run.Kind, r.Run.Strategy, r.Run.Window, r.Run.ErrorRate, r.Run.From, r.Run.To, report = JsonDocument.Parse(r.Run.Report.Raw).RootElement, load = r.Load, safety = r.Safety }),
        footprints = Footprints,
        timings = Timings,
    }, new JsonSerializerOptions { WriteIndented = true });
}
