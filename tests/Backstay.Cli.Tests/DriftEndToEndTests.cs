using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>Drift on the local platform through the real CLI, a real serve and a real HAProxy changed by hand on its runtime socket.</summary>
[Collection("serve")]
public sealed class DriftEndToEndTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Paused_WeightsChangedByHandInHaproxy_IsStoppedForDriftWhileItWaitsLeavingHaproxyAsFoundAndStatusShowsIt()
    {
        _cli.WriteFile("backstay.yaml", $$"""
            service: web
            platform:
              local:
                instances: 2
                listeners: { production: 127.0.0.1:{{_prod}} }
            task:
              image: builtin:hello
              startTimeout: 20s
              healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 2 }
            strategy:
              canary: { steps: [ { setWeight: 50 }, { pause: {} }, { setWeight: 100 } ] }
            """);
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        var paused = await _cli.DeployAsync("--env", "GREETING=v2");
        paused.Outcome.ShouldBe("Paused", paused.Raw);

        // Someone takes every server of the production backend out by hand while the canary waits for a person.
        var socket = JsonDocument.Parse(File.ReadAllText(Path.Combine(_cli.StateDirectory, "local", "platform.json"))).RootElement.GetProperty("SocketPath").GetString()!;
        foreach (var server in await ServersAsync(socket))
        {
            await HaproxyAsync(socket, $"set weight web_prod/{server} 0");
        }

        var stateByHand = await WeightsAsync(socket);

        // The paused deployment reads the platform back every 2 s; the wait allows for a busy machine.
        var stopped = await _cli.WaitForOutcomeAsync("web", paused.Id, "Drift");
        stopped.GetProperty("state").GetString().ShouldBe("Stopped");
        stopped.GetProperty("drift").EnumerateArray().Select(d => d.GetString()!).ShouldContain(d => d.Contains("of production traffic, Backstay set 50%"));
        var events = JsonDocument.Parse((await _cli.RunAsync("history", "web", "--events", "-o", "json")).Stdout).RootElement
            .EnumerateArray().Single(d => d.GetProperty("id").GetString() == paused.Id).GetProperty("events").EnumerateArray()
            .Select(e => (Type: e.GetProperty("type").GetString()!, Message: e.GetProperty("message").GetString()!)).ToList();
        events.ShouldContain(e => e.Type == "Drift" && e.Message.Contains("production traffic"));
        events.ShouldNotContain(e => e.Type == "TrafficShifted" && e.Message.Contains("100%"), "the step after the pause never ran");
        (await WeightsAsync(socket)).ShouldBe(stateByHand, "a stop for drift leaves HAProxy as the person left it");

        var status = await WaitForStatusDriftAsync();
        status.GetProperty("lastOutcome").GetString().ShouldBe("Drift");
        var human = await _cli.RunAsync("status", "web");
        human.ExitCode.ShouldBe(0);
        human.Stdout.ShouldContain("Drift");
        human.Stdout.ShouldContain("production traffic goes to");
        human.Stdout.ShouldContain("backstay reset web");

        var continued = await _cli.RunAsync("continue", paused.Id);
        continued.ExitCode.ShouldBe(2, continued.Stdout + continued.Stderr);
        continued.Stderr.ShouldContain("Stopped");
        (await WeightsAsync(socket)).ShouldBe(stateByHand);
    }

    /// <summary>status through serve reads the controller's look at the platform, taken every 2 s.</summary>
    private async Task<JsonElement> WaitForStatusDriftAsync()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var status = await _cli.RunAsync("status", "-o", "json");
            var web = JsonDocument.Parse(status.Stdout).RootElement.GetProperty("services").EnumerateArray().Single();
            if (web.GetProperty("drift").EnumerateArray().Any(d => d.GetString()!.Contains("production traffic goes to", StringComparison.Ordinal)))
            {
                return web;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"status never showed the drift: {status.Stdout}");
            }

            await Task.Delay(500);
        }
    }

    /// <summary>Each server's name, address, administrative state and weight (the columns Backstay sets; others tick with time).</summary>
    private static async Task<List<string>> WeightsAsync(string socket) =>
        (await HaproxyAsync(socket, "show servers state web_prod")).Split('\n').Select(l => l.Split(' '))
            .Where(f => f.Length > 8 && char.IsDigit(f[0][0])).Select(f => $"{f[3]} {f[4]} admin={f[6]} weight={f[7]}").ToList();

    private static async Task<List<string>> ServersAsync(string socket) =>
        (await HaproxyAsync(socket, "show servers state web_prod")).Split('\n').Select(l => l.Split(' '))
            .Where(f => f.Length > 4 && char.IsDigit(f[0][0])).Select(f => f[3]).ToList();

    private static async Task<string> HaproxyAsync(string socketPath, string command)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath)).WaitAsync(TimeSpan.FromSeconds(10));
        await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"));
        var buffer = new byte[65536];
        var text = new StringBuilder();
        int read;
        while ((read = await socket.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10))) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }
}
