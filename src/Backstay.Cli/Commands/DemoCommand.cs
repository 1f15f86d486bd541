using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Backstay.Cli.Runtime;
using Microsoft.Extensions.Logging;

namespace Backstay.Cli.Commands;

/// <summary>
/// `backstay demo`: the local platform with the hello sample under steady load; an initial deployment, a good
/// canary that is promoted, and a bad canary (30% errors) that is rolled back on its own. Leaves nothing running.
/// </summary>
internal static class DemoCommand
{
    private const string SpecTemplate = """
        service: hello
        platform:
          local:
            instances: 3
            listeners: { production: 127.0.0.1:PROD, test: 127.0.0.1:TEST }
        task:
          image: builtin:hello
          port: 8080
          env: { GREETING: hello }
          startTimeout: 20s
          healthCheck: { path: /healthz, interval: 250ms, timeout: 200ms, healthyThreshold: 1, unhealthyThreshold: 2 }
        strategy:
          canary:
            steps:
              - setWeight: 20
              - analysis: { window: 4s, minRequests: 50, errorRate: { max: 5% } }
              - setWeight: 50
              - analysis: { window: 3s, minRequests: 50, errorRate: { max: 5% } }
              - setWeight: 100
        analysis: { window: 10s, minRequests: 20, errorRate: { max: 5% }, consecutiveFailures: 2, interval: 100ms }
        rollback: { automatic: true }
        retention: { keepPrevious: 3 }
        """;

    public static Command Create()
    {
        var rate = new Option<int>("--rate") { Description = "Requests per second of the built-in load", DefaultValueFactory = _ => 300 };
        var keep = new Option<bool>("--keep-state") { Description = "Keep the demo's state directory (printed at the end)" };
        var command = new Command("demo", "Watch a good release promoted and a bad one rolled back, on this machine") { rate, keep };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var console = json ? null : Consoles.Human;
            var directory = Path.Combine(Path.GetTempPath(), "backstay-demo-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                var rows = await RunAsync(directory, result.GetValue(rate), console, cancellationToken);
                Report(rows, json);
                return rows.All(r => r.Outcome == r.Expected) ? ExitCodes.Succeeded : ExitCodes.Failed;
            }
            finally
            {
                if (!result.GetValue(keep))
                {
                    TryDelete(directory);
                }
                else
                {
                    console?.MarkupLine($"State kept in [bold]{Markup.Escape(directory)}[/]");
                }
            }
        });
        return command;
    }

    private static async Task<List<DemoRow>> RunAsync(string directory, int rate, IAnsiConsole? console, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var stateDirectory = Path.Combine(directory, "state");
        Directory.CreateDirectory(stateDirectory);
        var prod = FreePort();
        var specPath = Path.Combine(directory, "backstay.yaml");
        await File.WriteAllTextAsync(specPath, SpecTemplate.Replace("PROD", prod.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("TEST", FreePort().ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal), cancellationToken);
        var spec = SpecLoader.Load(specPath);

        using var loggers = CliLogging.Create(LogLevel.Warning);
        await using var runtime = await BackstayRuntime.StartAsync(new BackstayRuntimeOptions
        {
            Store = new RuntimeStore.Sqlite(stateDirectory),
            LocalPlatform = true,
            EngineOwner = "demo",
            Log = loggers.CreateLogger("backstay"),
            Time = time,
        }, cancellationToken);
        using var stopEngine = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var engineTask = runtime.Engine.RunAsync(stopEngine.Token);
        var control = runtime.Control;
        var provenance = new Provenance { Message = "backstay demo" };
        var rows = new List<DemoRow>();
        await using var load = new LoadGenerator(new Uri($"http://127.0.0.1:{prod}/"), rate, time);
        try
        {
            console?.MarkupLine($"[bold]Backstay demo[/]: 3 instances of the hello sample behind HAProxy on 127.0.0.1:{prod}, state in {Markup.Escape(directory)}");
            var steps = new (string Title, Dictionary<string, string> Env, string Expected)[]
            {
                ("1. initial deployment", new() { ["GREETING"] = "hello" }, "Succeeded"),
                ("2. good canary (hello v2)", new() { ["GREETING"] = "hello v2" }, "Succeeded"),
                ("3. bad canary (30% of requests fail)", new() { ["GREETING"] = "hello v3", ["ERROR_RATE"] = "0.3" }, "RolledBack"),
            };
            foreach (var (title, env, expected) in steps)
            {
                console?.WriteLine();
                console?.MarkupLine($"[bold underline]{Markup.Escape(title)}[/]" + (rows.Count > 0 ? $" under {rate} requests/s" : ""));
                var started = time.GetUtcNow();
                var deployment = await control.DeployAsync(new DeployRequest { Spec = spec, Env = env, Provenance = provenance }, "demo", cancellationToken);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(90));
                var final = await new DeploymentWatcher(control, console).WaitAsync(deployment.Id, stopOnPause: false, timeout.Token);
                var finished = final.FinishedAt ?? time.GetUtcNow();
                if (rows.Count == 0)
                {
                    load.Start();
                    await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken);
                }

                var (requests, failed) = load.Count(started, finished);
                long? tts = null;
                if (final.SafeAt is { } safe && load.FirstFailure(deployment.TargetRevision, started) is { } firstFailure)
                {
                    tts = (long)(safe - firstFailure).TotalMilliseconds;
                }

                rows.Add(new DemoRow(final.Id, deployment.TargetRevision, final.Strategy, Reports.Outcome(final), expected, requests, failed, tts, final.Reason));
            }

            // Let the last rollback's drained instances finish before the load stops.
            await Task.Delay(TimeSpan.FromMilliseconds(500), time, cancellationToken);
        }
        finally
        {
            await load.DisposeAsync();
            await stopEngine.CancelAsync();
            await engineTask;
        }

        return rows;
    }

    private static void Report(List<DemoRow> rows, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(BackstayJson.Serialize(new DemoReport(
                Reports.SchemaVersion,
                rows.Select(r => new DemoDeployment(r.Id, r.Revision, r.Strategy, r.Outcome, r.Requests, r.Failed, r.TimeToSafetyMs)).ToList()), Reports.Json));
            return;
        }

        Consoles.Human.WriteLine();
        var table = new Table().Title("[bold]Backstay demo[/]").AddColumns("Deployment", "Revision", "Strategy", "Outcome", "Requests", "Failed", "Time to safety", "Why");
        foreach (var r in rows)
        {
            var colour = r.Outcome == r.Expected ? "green" : "red";
            table.AddRow(r.Id, r.Revision.ToString(CultureInfo.InvariantCulture), r.Strategy, $"[{colour}]{r.Outcome}[/]",
                r.Requests.ToString(CultureInfo.InvariantCulture), r.Failed.ToString(CultureInfo.InvariantCulture),
                r.TimeToSafetyMs is { } t ? $"{t} ms" : "-", Markup.Escape(r.Reason ?? ""));
        }

        Consoles.Human.Write(table);
        var bad = rows.LastOrDefault();
        if (bad?.TimeToSafetyMs is { } tts)
        {
            Consoles.Human.MarkupLine($"The bad revision was out of production traffic [bold]{tts} ms[/] after it served its first failed request; its failed requests are the only ones in the table.");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private sealed record DemoRow(string Id, int Revision, string Strategy, string Outcome, string Expected, long Requests, long Failed, long? TimeToSafetyMs, string? Reason);
}
