using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>Hooks, pause-and-approve, stop, reset and multi-service rollback through the real CLI and a real serve.</summary>
[Collection("serve")]
public sealed class LifecycleEndToEndTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();
    private readonly int _test = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    private void WriteSpec(string strategy, string hooks, string service = "web", int? prod = null, string file = "backstay.yaml") =>
        _cli.WriteFile(file, $$"""
            service: {{service}}
            platform:
              local:
                instances: 2
                listeners: { production: 127.0.0.1:{{prod ?? _prod}}, test: 127.0.0.1:{{_test + (prod is null ? 0 : 1)}} }
            task:
              image: builtin:hello
              startTimeout: 20s
              healthCheck: { path: /healthz, interval: 500ms, timeout: 400ms, healthyThreshold: 1, unhealthyThreshold: 3 }
            strategy:
            {{strategy}}
            hooks:
            {{hooks}}
            """);

    [Fact]
    public async Task Deploy_ExecHookSeesTestListenerAndPauseHookIsContinuedFromAnotherProcess_Succeeds()
    {
        WriteSpec("  blueGreen: { testTraffic: true, bake: 0s, keepPreviousFor: 0s }", """
              AfterAllowTestTraffic: [ { exec: { command: [sh, -c, "curl -sf $BACKSTAY_TEST_URL > seen-$BACKSTAY_TARGET_REVISION.txt && echo stage=$BACKSTAY_STAGE"], timeout: 10s } } ]
              BeforeAllowTraffic: [ { pause: { timeout: 1h, onTimeout: rollback } } ]
            """);
        await _cli.StartServeAsync();
        var first = await _cli.DeployAsync();
        first.Outcome.ShouldBe("Paused");
        (await _cli.RunAsync("continue", first.Id, "-o", "json")).ExitCode.ShouldBe(0);

        var second = await _cli.DeployAsync("--env", "GREETING=v2");

        second.ExitCode.ShouldBe(5, second.Raw);
        File.ReadAllText(Path.Combine(_cli.WorkDirectory, "seen-2.txt")).ShouldContain("v2 from revision 2");
        (await CliRunner.ServedRevisionsAsync(_prod, 5)).ShouldAllBe(r => r == 1);
        var hookId = JsonDocument.Parse(second.Raw).RootElement.GetProperty("events").EnumerateArray()
            .Select(e => e.GetProperty("message").GetString()!).First(m => m.Contains("awaits action", StringComparison.Ordinal)).Split(' ')[2];

        var wrong = await _cli.RunAsync("continue", second.Id, "--hook", "h-NOSUCH");
        wrong.ExitCode.ShouldBe(2);
        wrong.Stderr.ShouldContain(hookId);
        var continued = await _cli.RunAsync("continue", second.Id, "--hook", hookId, "-o", "json");

        continued.ExitCode.ShouldBe(0, continued.Stdout + continued.Stderr);
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 2);
    }

    [Fact]
    public async Task Deploy_FailingHttpHook_RollsBackAndKeepsItsOutput()
    {
        using var server = new TinyHttpServer(500);
        WriteSpec("  blueGreen: { testTraffic: true, bake: 0s, keepPreviousFor: 0s }", $$"""
              AfterInstall: [ { http: { url: "http://127.0.0.1:{{server.Port}}/verify", timeout: 2s, retries: 1 } } ]
            """);
        await _cli.StartServeAsync();
        server.Status = 200;
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        server.Status = 500;

        var bad = await _cli.DeployAsync("--env", "GREETING=v2");

        bad.ExitCode.ShouldBe(3, bad.Raw);
        JsonDocument.Parse(bad.Raw).RootElement.GetProperty("reason").GetString()!.ShouldContain("AfterInstall hook");
        server.Bodies.Last().ShouldContain("\"stage\":\"AfterInstall\"");
        (await CliRunner.ServedRevisionsAsync(_prod, 5)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Stop_PausedDeployment_IsStoppedThenDriftIsReportedAndResetAdoptsTheStable()
    {
        WriteSpec("  canary: { steps: [ { setWeight: 50 }, { pause: {} }, { setWeight: 100 } ] }", "  {}");
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        var paused = await _cli.DeployAsync("--env", "GREETING=v2");
        paused.Outcome.ShouldBe("Paused");

        var stop = await _cli.RunAsync("stop", paused.Id, "-o", "json");

        stop.ExitCode.ShouldBe(6, stop.Stdout + stop.Stderr);
        CliRunner.Outcome(stop.Stdout).ShouldBe("Stopped");
        var refused = await WaitForDriftRefusalAsync();
        refused.Stderr.ShouldContain("reset");
        var again = await _cli.RunAsync("stop", paused.Id);
        again.ExitCode.ShouldBe(2);

        var reset = await _cli.RunAsync("reset", "web", "--recreate", "-o", "json");

        reset.ExitCode.ShouldBe(0, reset.Stdout + reset.Stderr);
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 1);
        (await _cli.DeployAsync("--env", "GREETING=v3")).Outcome.ShouldBe("Paused");
    }

    [Fact]
    public async Task Deploy_AfterWeightsMovedByHandInHaproxy_RefusesUntilResetAdopt()
    {
        WriteSpec("  canary: { steps: [ { setWeight: 100 } ] }", "  {}");
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        (await _cli.DeployAsync("--env", "GREETING=v2")).Outcome.ShouldBe("Succeeded");

        // Someone puts every server of the production backend in maintenance by hand.
        var socket = JsonDocument.Parse(File.ReadAllText(Path.Combine(_cli.StateDirectory, "local", "platform.json"))).RootElement.GetProperty("SocketPath").GetString()!;
        var servers = await HaproxyAsync(socket, "show servers state web_prod");
        foreach (var name in servers.Split('\n').Select(l => l.Split(' ')).Where(f => f.Length > 4 && char.IsDigit(f[0][0])).Select(f => f[3]))
        {
            await HaproxyAsync(socket, $"set weight web_prod/{name} 0");
        }

        var refused = await WaitForDriftRefusalAsync();
        refused.Stderr.ShouldContain("production traffic");
        // status reads the controller's periodic look at the platform (every 2 s).
        var clock = Stopwatch.StartNew();
        var status = await _cli.RunAsync("status", "-o", "json");
        while (!status.Stdout.Contains("production traffic", StringComparison.Ordinal) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(500);
            status = await _cli.RunAsync("status", "-o", "json");
        }

        status.Stdout.ShouldContain("production traffic");

        var reset = await _cli.RunAsync("reset", "web", "--recreate");
        reset.ExitCode.ShouldBe(0, reset.Stdout + reset.Stderr);
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 2);
    }

    [Fact]
    public async Task Rollback_SeveralServicesTogether_ReportsEach()
    {
        var otherProd = CliRunner.FreePort();
        WriteSpec("  canary: { steps: [ { setWeight: 100 } ] }", "  {}", service: "web", file: "web.yaml");
        WriteSpec("  canary: { steps: [ { setWeight: 100 } ] }", "  {}", service: "api", prod: otherProd, file: "api.yaml");
        await _cli.StartServeAsync();
        foreach (var file in new[] { "web.yaml", "api.yaml" })
        {
            (await _cli.DeployAsync("-f", file)).Outcome.ShouldBe("Succeeded");
            (await _cli.DeployAsync("-f", file, "--env", "GREETING=v2")).Outcome.ShouldBe("Succeeded");
        }

        var result = await _cli.RunAsync(TimeSpan.FromSeconds(90), "rollback", "web", "api", "-o", "json");

        result.ExitCode.ShouldBe(0, result.Stdout + result.Stderr);
        var rollbacks = JsonDocument.Parse(result.Stdout).RootElement.GetProperty("rollbacks");
        rollbacks.EnumerateArray().Select(r => r.GetProperty("service").GetString()).Order().ShouldBe(["api", "web"]);
        rollbacks.EnumerateArray().ShouldAllBe(r => r.GetProperty("outcome").GetString() == "Succeeded" && r.GetProperty("revision").GetInt32() == 1);
        (await CliRunner.ServedRevisionsAsync(_prod, 5)).ShouldAllBe(r => r == 1);
        (await CliRunner.ServedRevisionsAsync(otherProd, 5)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Rollback_Interactive_PicksServiceAndRevisionInATerminal()
    {
        WriteSpec("  canary: { steps: [ { setWeight: 100 } ] }", "  {}");
        await _cli.StartServeAsync();
        (await _cli.DeployAsync("--message", "first release")).Outcome.ShouldBe("Succeeded");
        (await _cli.DeployAsync("--env", "GREETING=v2", "--message", "second release")).Outcome.ShouldBe("Succeeded");
        (await _cli.DeployAsync("--env", "GREETING=v3", "--message", "third release")).Outcome.ShouldBe("Succeeded");
        var script = _cli.WriteFile("keys.json", JsonSerializer.Serialize(new[]
        {
            new[] { "Which services", " " },
            ["web", "\r"],
            ["first release", "\u001b[B"],
            ["second release", "\r"],
            ["Roll back web to revision", "y\r"],
        }));

        var result = await _cli.RunProgramAsync(TimeSpan.FromSeconds(120), "python3", Path.Combine(AppContext.BaseDirectory, "pty_drive.py"), script, "--",
            "dotnet", CliRunner.BackstayDll, "rollback", "--interactive");

        result.ExitCode.ShouldBe(0, result.Stdout + result.Stderr);
        result.Stdout.ShouldContain("second release");
        (await CliRunner.ServedRevisionsAsync(_prod, 5)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Rollback_InteractiveAfterAnAutomaticRollback_DefaultsToTheLastGoodRevisionAndMarksTheFailedOne()
    {
        WriteSpec("  canary: { steps: [ { setWeight: 100 } ] }", "  {}");
        await _cli.StartServeAsync();
        (await _cli.DeployAsync("--message", "first release")).Outcome.ShouldBe("Succeeded");
        (await _cli.DeployAsync("--env", "GREETING=v2", "--message", "second release")).Outcome.ShouldBe("Succeeded");
        var bad = await _cli.DeployAsync("--env", "FAIL_HEALTH=true", "--message", "third release");
        bad.Outcome.ShouldBe("RolledBack", bad.Raw);
        (await CliRunner.ServedRevisionsAsync(_prod, 5)).ShouldAllBe(r => r == 2);

        // Space picks the service; then Enter takes every default, as a hurried person would.
        var script = _cli.WriteFile("keys.json", JsonSerializer.Serialize(new[]
        {
            new[] { "Which services", " " },
            ["web", "\r"],
            ["(now revision 2) back to", "\r"],
            ["Roll back web to revision 1?", "\r"],
        }));

        var result = await _cli.RunProgramAsync(TimeSpan.FromSeconds(120), "python3", Path.Combine(AppContext.BaseDirectory, "pty_drive.py"), script, "--",
            "dotnet", CliRunner.BackstayDll, "rollback", "--interactive");

        result.ExitCode.ShouldBe(0, result.Stdout + result.Stderr);
        result.Stdout.ShouldContain("r3  third release  (rolled back");
        result.Stdout.ShouldContain("-GREETING +FAIL_HEALTH");
        (await CliRunner.ServedRevisionsAsync(_prod, 5)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task BadInput_UnknownOrWrongState_ClearErrorsAndNothingChanges()
    {
        WriteSpec("  canary: { steps: [ { setWeight: 100 } ] }", "  {}");
        await _cli.StartServeAsync();
        var done = await _cli.DeployAsync();

        (await _cli.RunAsync("continue", done.Id)).Stderr.ShouldContain("not Paused");
        (await _cli.RunAsync("stop", done.Id)).Stderr.ShouldContain("only a deployment in progress");
        (await _cli.RunAsync("stop", "d-NOSUCH123")).ExitCode.ShouldBe(2);
        var reset = await _cli.RunAsync("reset", "nosuch");
        reset.ExitCode.ShouldBe(2);
        reset.Stderr.ShouldContain("Unknown service 'nosuch'");
        var history = JsonDocument.Parse((await _cli.RunAsync("history", "web", "-o", "json")).Stdout).RootElement;
        history.GetArrayLength().ShouldBe(1);
    }

    private async Task<CliResult> WaitForDriftRefusalAsync()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            var result = await _cli.RunAsync("deploy", "--env", "GREETING=refused");
            if (result.ExitCode == 9)
            {
                return result;
            }

            result.ExitCode.ShouldBeOneOf([8, 9, 6], result.Stdout + result.Stderr);
            if (result.ExitCode == 6)
            {
                return result with { Stderr = result.Stdout };
            }

            await Task.Delay(500);
        }

        throw new TimeoutException("deploy was never refused for drift");
    }

    private static async Task<string> HaproxyAsync(string socketPath, string command)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"));
        var buffer = new byte[65536];
        var text = new StringBuilder();
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    /// <summary>A tiny HTTP server on loopback that answers every request with Status and keeps the bodies.</summary>
    private sealed class TinyHttpServer : IDisposable
    {
        private readonly TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        public TinyHttpServer(int status)
        {
            Status = status;
            _listener.Start();
            _ = Task.Run(AcceptAsync);
        }

        public int Port => ((System.Net.IPEndPoint)_listener.LocalEndpoint).Port;

        public int Status { get; set; }

        public List<string> Bodies { get; } = [];

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    var stream = client.GetStream();
                    var buffer = new byte[65536];
                    var request = new StringBuilder();
                    while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) || !BodyComplete(request.ToString()))
                    {
                        var read = await stream.ReadAsync(buffer, _stop.Token);
                        if (read == 0)
                        {
                            break;
                        }

                        request.Append(Encoding.UTF8.GetString(buffer, 0, read));
                    }

                    var text = request.ToString();
                    lock (Bodies)
                    {
                        Bodies.Add(text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
                    }

                    var response = Encoding.ASCII.GetBytes($"HTTP/1.1 {Status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                    await stream.WriteAsync(response, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (IOException)
                {
                }
            }
        }

        private static bool BodyComplete(string text)
        {
            var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var lengthLine = text[..headerEnd].Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            return lengthLine is null || text.Length - headerEnd - 4 >= int.Parse(lengthLine.Split(':')[1].Trim(), CultureInfo.InvariantCulture);
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }
}
