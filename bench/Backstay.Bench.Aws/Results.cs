using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Backstay.Bench.Aws;

/// <summary>bench/results-aws.md (or -quick.md) and the raw figures as JSON.</summary>
internal static class Results
{
    private static readonly string[] CaseOrder = ["first", "succeeded", "rolledBack", "manualRollback"];

    private static readonly Dictionary<string, string> CaseNames = new(StringComparer.Ordinal)
    {
        ["first"] = "first deployment (creates the service)",
        ["succeeded"] = "Succeeded",
        ["rolledBack"] = "RolledBack (alarm to ALARM mid-way)",
        ["manualRollback"] = "manual `backstay rollback` after success",
    };

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>"median (min–max)", or the one value.</summary>
    private static string Spread(IEnumerable<double> values, string format = "0", string unit = "")
    {
        var list = values.Where(v => !double.IsNaN(v)).ToList();
        if (list.Count == 0)
        {
            return "–";
        }

        string F(double v) => v.ToString(format, CultureInfo.InvariantCulture) + unit;
        return list.Min() == list.Max() ? F(list[0]) : $"{F(Median(list))} ({F(list.Min())}–{F(list.Max())})";
    }

    /// <summary>Describe*, List* and Get* calls; every other call is a write.</summary>
    internal static bool IsRead(string op)
    {
        var name = op[(op.IndexOf(':', StringComparison.Ordinal) + 1)..];
        return name.StartsWith("Describe", StringComparison.Ordinal) || name.StartsWith("List", StringComparison.Ordinal) || name.StartsWith("Get", StringComparison.Ordinal);
    }

    private static int Reads(Dictionary<string, int> ops) => ops.Where(kv => IsRead(kv.Key)).Sum(kv => kv.Value);

    private static int Writes(Dictionary<string, int> ops) => ops.Where(kv => !IsRead(kv.Key)).Sum(kv => kv.Value);

    public static string Markdown(Options options, Dictionary<string, string> machine, TimeSpan elapsed, List<Measurement> all, List<GrowthResult> growth, MotoLog log,
        List<string> problems, List<string> notes, int processes)
    {
        var md = new StringBuilder();
        var mode = options.Full ? "full" : "quick";
        md.AppendLine(CultureInfo.InvariantCulture, $"# Backstay: AWS API calls per deployment ({mode} mode)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Written by `{options.Command}`. How it is measured: [README.md](README.md#6-aws-api-calls-per-deployment).");
        if (!options.Full)
        {
            md.AppendLine("Quick mode runs each cell once with fewer strategies and cases: it shows the runner works, not a figure to quote.");
        }

        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("| --- | --- |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Date | {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {elapsed.TotalMinutes:0.0} min |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Command | `{options.Command}` |");
        foreach (var (k, v) in machine)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {k} | {v} |");
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"| Load at end | {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?")} (the machine is shared; other work ran beside this) |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| AWS | one `python3 -m moto.server` on 127.0.0.1 with its request recorder on; {processes} `backstay` processes, each with its own access key |");
        md.AppendLine("| Service | ECS on the EC2 launch type, `desiredCount: 2`, production + test listener, two target groups, one CloudWatch alarm, a private ECR image pinned to its digest; `analysis: { window: 2s, minRequests: 20, interval: 250ms }` |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Runs | {options.Runs} per strategy and case |");
        md.AppendLine();
        md.AppendLine("Strategies (`strategy:` of the spec):");
        md.AppendLine();
        foreach (var s in options.StrategyNames)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- `{Strategies.Yaml[s]}`{(Strategies.NativeRolling(s) ? " with `platform.ecs.deploymentController: ECS` (ECS replaces the tasks; one target group)" : "")}");
        }

        md.AppendLine();
        Headline(md, all);
        PerCase(md, options, all);
        Agreement(md, all, growth, log);
        ByOperation(md, options, all);
        Growth(md, growth);
        md.AppendLine("## Notes");
        md.AppendLine();
        if (notes.Count == 0)
        {
            md.AppendLine("None.");
        }

        foreach (var note in notes)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
        }

        md.AppendLine();
        md.AppendLine("## Problems");
        md.AppendLine();
        if (problems.Count == 0)
        {
            md.AppendLine("None: every deployment ended as expected and every process started was gone at the end.");
        }

        foreach (var problem in problems)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {problem.Replace("\n", " ", StringComparison.Ordinal)}");
        }

        return md.ToString();
    }

    private static void Headline(StringBuilder md, List<Measurement> all)
    {
        md.AppendLine("## Headline (issue 3: blue/green and canary)");
        md.AppendLine();
        md.AppendLine("| Deployment | AWS API calls (Backstay's count) | moto's request log | Wall time of `backstay deploy` |");
        md.AppendLine("| --- | --- | --- | --- |");
        foreach (var strategy in new[] { "blueGreen", "canary" })
        {
            foreach (var @case in new[] { "succeeded", "rolledBack" })
            {
                var cell = all.Where(m => m.Strategy == strategy && m.Case == @case).ToList();
                if (cell.Count == 0)
                {
                    continue;
                }

                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {strategy}, {CaseNames[@case]} | {Spread(cell.Select(m => (double)(m.BackstayTotal ?? -1)))} | {Spread(cell.Select(m => (double)m.MotoTotal))} | {Spread(cell.Select(m => m.Cli.WallMs / 1000), "0.0", " s")} |");
            }
        }

        md.AppendLine();
        md.AppendLine("Median (min–max) over the runs. Calls depend on how long a deployment lasts (reads poll), so see reads per second below to scale to real timings.");
        md.AppendLine();
    }

    private static void PerCase(StringBuilder md, Options options, List<Measurement> all)
    {
        md.AppendLine("## Per strategy and outcome");
        md.AppendLine();
        md.AppendLine("| Strategy | Case | n | Outcomes | Calls (Backstay) | writes | reads | moto's log | counts match | Wall time of the process | Deployment (created → finished) | Reads per second of the process |");
        md.AppendLine("| --- | --- | ---: | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var strategy in options.StrategyNames)
        {
            foreach (var @case in CaseOrder)
            {
                var cell = all.Where(m => m.Strategy == strategy && m.Case == @case).ToList();
                if (cell.Count == 0)
                {
                    continue;
                }

                var outcomes = string.Join(", ", cell.GroupBy(m => m.Cli.Outcome).Select(g => $"{g.Key} ×{g.Count()}"));
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {strategy} | {CaseNames[@case]} | {cell.Count} | {outcomes} | {Spread(cell.Select(m => (double)(m.BackstayTotal ?? -1)))} | " +
                    $"{Spread(cell.Select(m => (double)Writes(m.BackstayOps)))} | {Spread(cell.Select(m => (double)Reads(m.BackstayOps)))} | " +
                    $"{Spread(cell.Select(m => (double)m.MotoTotal))} | {cell.Count(m => m.Matches)} of {cell.Count} | " +
                    $"{Spread(cell.Select(m => m.Cli.WallMs / 1000), "0.0", " s")} | {Spread(cell.Select(m => (m.DeploymentMs ?? double.NaN) / 1000), "0.0", " s")} | " +
                    $"{Spread(cell.Select(m => Reads(m.BackstayOps) / (m.Cli.WallMs / 1000)), "0.0")} |");
            }
        }

        md.AppendLine();
        md.AppendLine("Writes are every operation that is not Describe*, List* or Get*. The alarm of the rolled-back cases:");
        md.AppendLine();
        foreach (var g in all.Where(m => m.Case == "rolledBack" && m.Note is not null).GroupBy(m => m.Strategy))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {g.Key}: {string.Join("; ", g.Select(m => m.Note))}");
        }

        md.AppendLine();
    }

    private static void Agreement(StringBuilder md, List<Measurement> all, List<GrowthResult> growth, MotoLog log)
    {
        var every = all.Concat(growth.SelectMany(g => g.Firsts.Concat(g.Measured))).Where(m => m.Case != "stuck").ToList();
        md.AppendLine("## Backstay's count against moto's request log");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"{every.Count(m => m.Matches)} of {every.Count} processes: Backstay's `apiCalls` equals, operation by operation, what moto recorded with that process's access key. " +
            $"moto's log had {log.Lines} lines ({log.Unattributed} without a SigV4 key, e.g. the readiness probe; {log.Unreadable} unreadable).");
        md.AppendLine();
        var differences = every.Where(m => !m.Matches).SelectMany(m => m.Differences).GroupBy(d => d).OrderByDescending(g => g.Count()).ToList();
        if (differences.Count > 0)
        {
            md.AppendLine("Differences, as Backstay's count minus moto's for one operation in one process (how many processes showed it):");
            md.AppendLine();
            md.AppendLine("| Operation | Backstay − moto | Processes |");
            md.AppendLine("| --- | ---: | ---: |");
            foreach (var d in differences)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| `{d.Key.Operation}` | {d.Key.Difference:+0;-0} | {d.Count()} |");
            }

            md.AppendLine();
            var onlyEcr = every.Where(m => !m.Matches).Count(m => m.Differences.All(d => d.Operation == "ecr:DescribeImages"));
            md.AppendLine(CultureInfo.InvariantCulture, $"{onlyEcr} of the {every.Count(m => !m.Matches)} processes that differ differ only in `ecr:DescribeImages`.");
            md.AppendLine();
        }
    }

    private static void ByOperation(StringBuilder md, Options options, List<Measurement> all)
    {
        md.AppendLine("## By operation (Backstay's count; median per process, min–max when they differ)");
        md.AppendLine();
        foreach (var strategy in options.StrategyNames)
        {
            var cases = CaseOrder.Where(c => all.Any(m => m.Strategy == strategy && m.Case == c)).ToList();
            if (cases.Count == 0)
            {
                continue;
            }

            md.AppendLine(CultureInfo.InvariantCulture, $"### {strategy}");
            md.AppendLine();
            md.AppendLine("| Operation | " + string.Join(" | ", cases.Select(c => CaseNames[c])) + " |");
            md.AppendLine("| --- |" + string.Concat(cases.Select(_ => " ---: |")));
            var ops = all.Where(m => m.Strategy == strategy).SelectMany(m => m.BackstayOps.Keys.Concat(m.Moto.Keys)).Distinct()
                .OrderBy(op => IsRead(op)).ThenBy(op => op, StringComparer.Ordinal);
            foreach (var op in ops)
            {
                var cells = cases.Select(c => Spread(all.Where(m => m.Strategy == strategy && m.Case == c).Select(m => (double)m.BackstayOps.GetValueOrDefault(op))));
                md.AppendLine(CultureInfo.InvariantCulture, $"| `{op}` | {string.Join(" | ", cells)} |");
            }

            md.AppendLine();
        }
    }

    private static void Growth(StringBuilder md, List<GrowthResult> growth)
    {
        md.AppendLine("## Growth: services deployed at once");
        md.AppendLine();
        if (growth.Count == 0)
        {
            md.AppendLine("Not run.");
            md.AppendLine();
            return;
        }

        md.AppendLine($"Strategy {growth[0].Strategy} with `task.startTimeout: {AwsRunner.GrowthStartTimeout}`; N services, each its own moto world, state directory and access key; " +
            "their first deployments (which create the services) run beforehand, 10 at a time, and are not in the table; then the `backstay deploy` processes of the next " +
            "revision are started, all N at once (or the given number at a time, each group after the previous one ended). One task-set agent loop serves every world " +
            "(3 calls per world per round), so moto carries that load too.");
        md.AppendLine();
        md.AppendLine("| N | Started at once | Succeeded | Calls per deployment (Backstay) | writes | reads | Total calls (Backstay) | moto's log total | counts match | Wall time of the batch | Wall time per process | Set-up / first deployments |");
        md.AppendLine("| ---: | ---: | --- | --- | --- | --- | ---: | ---: | --- | --- | --- | --- |");
        foreach (var g in growth)
        {
            var m = g.Measured;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {g.N} | {Math.Min(g.Batch, g.N)} | {m.Count(x => x.Cli.Outcome == "Succeeded")} of {g.N} | {Spread(m.Select(x => (double)(x.BackstayTotal ?? -1)))} | " +
                $"{Spread(m.Select(x => (double)Writes(x.BackstayOps)))} | {Spread(m.Select(x => (double)Reads(x.BackstayOps)))} | " +
                $"{m.Sum(x => x.BackstayTotal ?? 0)} | {m.Sum(x => x.MotoTotal)} | {m.Count(x => x.Matches)} of {m.Count} | {g.BatchSeconds:0.0} s | " +
                $"{Spread(m.Select(x => x.Cli.WallMs / 1000), "0.0", " s")} | {g.SetupSeconds:0} s / {g.PrepSeconds:0} s |");
        }

        md.AppendLine();
    }

    public static string Raw(List<Measurement> all, List<GrowthResult> growth)
    {
        object Row(Measurement m) => new
        {
            m.Strategy,
            m.Case,
            m.Run,
            m.Cli.Key,
            m.Cli.ExitCode,
            m.Cli.Outcome,
            m.Cli.WallMs,
            m.Cli.TimedOut,
            m.DeploymentMs,
            Backstay = m.BackstayOps,
            BackstayTotal = m.BackstayTotal,
            Moto = m.Moto,
            MotoTotal = m.MotoTotal,
            m.Matches,
            m.Note,
            Stderr = m.Cli.ExitCode is 0 or 3 ? null : m.Cli.Stderr,
        };
        return JsonSerializer.Serialize(new
        {
            Measurements = all.Select(Row),
            Growth = growth.Select(g => new { g.N, g.Strategy, g.Batch, g.SetupSeconds, g.PrepSeconds, g.BatchSeconds, Firsts = g.Firsts.Select(Row), Measured = g.Measured.Select(Row) }),
        }, new JsonSerializerOptions { WriteIndented = true });
    }
}
