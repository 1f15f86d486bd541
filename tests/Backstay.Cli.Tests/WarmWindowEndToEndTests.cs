using System.Diagnostics;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>
/// Blue/green's keepPreviousFor through the real CLI, a real serve, real instances and HAProxy: `deploy` returns
/// Succeeded while the previous revision is still warm, the window ends by itself, and `continue --full` ends the next
/// one at once (issue 12 item 7).
/// </summary>
[Collection("serve")]
public sealed class WarmWindowEndToEndTests : IDisposable
{
    private static readonly TimeSpan KeepFor = TimeSpan.FromSeconds(20);

    /// <summary>How long past a window's end the controller may take to stop the instances on a busy machine.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(30);

    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Deploy_BlueGreenWithKeepPreviousFor_ReturnsSucceededWhileThePreviousRevisionIsWarmThenRetiresIt()
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
              healthCheck: { path: /healthz, interval: 500ms, timeout: 400ms, healthyThreshold: 1, unhealthyThreshold: 3 }
            strategy:
              blueGreen: { testTraffic: false, bake: 1s, keepPreviousFor: 20s }
            """);
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        var first = _cli.InstancePids(1);
        first.Count.ShouldBe(2);

        var deploy = await _cli.RunAsync(TimeSpan.FromSeconds(90), "deploy", "--env", "GREETING=v2");

        var returnedAt = DateTimeOffset.UtcNow;
        deploy.ExitCode.ShouldBe(0, deploy.Stdout + deploy.Stderr);
        deploy.Stdout.ShouldContain("Succeeded");
        deploy.Stdout.ShouldContain("revision 1 stays warm until");
        deploy.Stdout.ShouldContain("(keepPreviousFor 20s)");
        var second = await LatestAsync();
        var id = second.GetProperty("id").GetString()!;
        deploy.Stdout.ShouldContain($"backstay continue --full {id}");
        second.GetProperty("outcome").GetString().ShouldBe("Succeeded");
        second.GetProperty("warmRevision").GetInt32().ShouldBe(1);
        var warmUntil = second.GetProperty("warmUntil").GetDateTimeOffset();
        returnedAt.ShouldBeLessThan(warmUntil, "deploy returns before the window ends");
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 2);
        first.ShouldAllBe(pid => CliRunner.Alive(pid), "the previous revision's instances stay up during the window");
        var status = await _cli.RunAsync("status", "web");
        status.Stdout.ShouldContain("revision 1 warm until");
        var statusJson = JsonDocument.Parse((await _cli.RunAsync("status", "web", "-o", "json")).Stdout).RootElement.GetProperty("services")[0];
        statusJson.GetProperty("warm").GetProperty("revision").GetInt32().ShouldBe(1);

        await WaitUntilAsync(() => _cli.InstancePids(1).Count == 0 && first.All(pid => !CliRunner.Alive(pid)), warmUntil + Margin, "revision 1's instances gone after the window");

        DateTimeOffset.UtcNow.ShouldBeGreaterThanOrEqualTo(warmUntil);
        var ended = await LatestAsync();
        ended.GetProperty("warmEndedAt").ValueKind.ShouldBe(JsonValueKind.String);
        ended.GetProperty("warmRevision").ValueKind.ShouldBe(JsonValueKind.Null);
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 2);

        // The next window is ended at once by `continue --full`, named by the service.
        (await _cli.DeployAsync("--env", "GREETING=v3")).Outcome.ShouldBe("Succeeded");
        var warm = _cli.InstancePids(2);
        warm.Count.ShouldBe(2);
        var third = await LatestAsync();

        var full = await _cli.RunAsync("continue", "web", "--full");

        full.ExitCode.ShouldBe(0, full.Stdout + full.Stderr);
        full.Stdout.ShouldContain("Revision 2 retired");
        DateTimeOffset.UtcNow.ShouldBeLessThan(third.GetProperty("warmUntil").GetDateTimeOffset());
        await WaitUntilAsync(() => warm.All(pid => !CliRunner.Alive(pid)), DateTimeOffset.UtcNow + TimeSpan.FromSeconds(15), "revision 2's processes exiting");
        _cli.InstancePids(2).ShouldBeEmpty();
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 3);
    }

    private async Task<JsonElement> LatestAsync() =>
        JsonDocument.Parse((await _cli.RunAsync("history", "web", "--limit", "1", "-o", "json")).Stdout).RootElement[0];

    private static async Task WaitUntilAsync(Func<bool> condition, DateTimeOffset deadline, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"{what}: not reached by {deadline:HH:mm:ss} (waited {clock.Elapsed.TotalSeconds:0} s)");
            }

            await Task.Delay(250);
        }
    }
}
