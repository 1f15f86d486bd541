using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>The real CLI against a real `backstay serve`: processes, HAProxy and SQLite.</summary>
[Collection("serve")]
public sealed class ServeEndToEndTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public ServeEndToEndTests()
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
              canary:
                steps:
                  - setWeight: 50
                  - pause: {}
                  - setWeight: 100
            analysis: { window: 5s, minRequests: 20, errorRate: { max: 5% }, consecutiveFailures: 2, interval: 100ms }
            """);
    }

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Deploy_PausedCanary_ConflictThenContinueFromAnotherProcess_Succeeds()
    {
        await _cli.StartServeAsync();

        var first = await _cli.DeployAsync();
        first.Outcome.ShouldBe("Succeeded");
        first.ExitCode.ShouldBe(0);

        var second = await _cli.DeployAsync("--env", "GREETING=v2");
        second.ExitCode.ShouldBe(5, second.Raw);
        second.Outcome.ShouldBe("Paused");

        var conflict = await _cli.RunAsync("deploy", "--env", "GREETING=v3");
        conflict.ExitCode.ShouldBe(7);
        conflict.Stderr.ShouldContain(second.Id);
        var revisions = await _cli.RunAsync("revisions", "web", "--output", "json");
        JsonDocument.Parse(revisions.Stdout).RootElement.GetArrayLength().ShouldBe(2);

        var continued = await _cli.RunAsync("continue", second.Id, "--output", "json");
        continued.ExitCode.ShouldBe(0, continued.Stdout + continued.Stderr);
        CliRunner.Outcome(continued.Stdout).ShouldBe("Succeeded");
        (await CliRunner.ServedRevisionsAsync(_prod, 20)).ShouldAllBe(r => r == 2);

        var history = await _cli.RunAsync("history", "web", "--output", "json");
        var list = JsonDocument.Parse(history.Stdout).RootElement;
        list.GetArrayLength().ShouldBe(2);
        list[0].GetProperty("id").GetString().ShouldBe(second.Id);
    }

    [Fact]
    public async Task Deploy_BadReleaseUnderLoad_IsRolledBackByItsOwnDeployment()
    {
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        using var load = new CancellationTokenSource();
        var loadTask = CliRunner.LoadAsync(_prod, load.Token);

        // The canary pauses at 50%; the background analysis watches it there and rolls it back.
        var bad = await _cli.DeployAsync("--env", "ERROR_RATE=0.5");
        var report = await _cli.WaitForOutcomeAsync("web", bad.Id, "RolledBack");
        await load.CancelAsync();
        await loadTask;

        var rollbackId = report.GetProperty("rolledBackBy").GetString();
        rollbackId.ShouldNotBeNull();
        report.GetProperty("reason").GetString()!.ShouldContain("error rate");
        var history = JsonDocument.Parse((await _cli.RunAsync("history", "web", "--output", "json")).Stdout).RootElement;
        var rollback = history.EnumerateArray().Single(d => d.GetProperty("id").GetString() == rollbackId);
        rollback.GetProperty("kind").GetString().ShouldBe("Rollback");
        rollback.GetProperty("rollbackOf").GetString().ShouldBe(bad.Id);
        rollback.GetProperty("outcome").GetString().ShouldBe("Succeeded");
        (await CliRunner.ServedRevisionsAsync(_prod, 20)).ShouldAllBe(r => r == 1);

        // The rollback succeeded; the release did not: status says so, in red, with the reason, until a later release succeeds.
        var status = await _cli.RunAsync("status", "web", "--output", "json");
        var release = JsonDocument.Parse(status.Stdout).RootElement.GetProperty("services")[0].GetProperty("release");
        release.GetProperty("state").GetString().ShouldBe("RolledBack", status.Stdout);
        release.GetProperty("incident").GetBoolean().ShouldBeTrue();
        release.GetProperty("revision").GetInt32().ShouldBe(2);
        release.GetProperty("deploymentId").GetString().ShouldBe(bad.Id);
        release.GetProperty("summary").GetString()!.ShouldStartWith("r2 rolled back");
        release.GetProperty("summary").GetString()!.ShouldContain("error rate");
        (await _cli.RunAsync("status", "web")).Stdout.ShouldContain("r2 rolled back");
        var fixedRelease = await _cli.DeployAsync("--env", "GREETING=fixed");
        fixedRelease.Outcome.ShouldBe("Paused", "the canary waits at 50%");
        var continued = await _cli.RunAsync("continue", fixedRelease.Id, "--output", "json");
        CliRunner.Outcome(continued.Stdout).ShouldBe("Succeeded", continued.Stdout + continued.Stderr);
        var after = JsonDocument.Parse((await _cli.RunAsync("status", "web", "--output", "json")).Stdout).RootElement.GetProperty("services")[0].GetProperty("release");
        after.GetProperty("state").GetString().ShouldBe("Succeeded");
        after.GetProperty("incident").GetBoolean().ShouldBeFalse();
    }

    [Fact]
    public async Task Deploy_InstanceNeverHealthy_FailsAndStableKeepsServing()
    {
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");

        var bad = await _cli.DeployAsync("--env", "FAIL_HEALTH=true");

        bad.ExitCode.ShouldBe(3, bad.Raw);
        JsonDocument.Parse(bad.Raw).RootElement.GetProperty("reason").GetString()!.ShouldContain("healthy");
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Rollback_AfterSuccess_ToEarlierRevision_ServesIt()
    {
        await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        var second = await _cli.DeployAsync("--env", "GREETING=v2");
        (await _cli.RunAsync("continue", second.Id, "--output", "json")).ExitCode.ShouldBe(0);

        var rollback = await _cli.RunAsync("rollback", "web", "--to", "1", "--output", "json");

        rollback.ExitCode.ShouldBe(0, rollback.Stdout + rollback.Stderr);
        var report = JsonDocument.Parse(rollback.Stdout).RootElement;
        report.GetProperty("kind").GetString().ShouldBe("Rollback");
        report.GetProperty("revision").GetInt32().ShouldBe(1);
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 1);
    }

    [Fact]
    public async Task Serve_KilledWhilePaused_KeepsServingAndResumesOnRestart()
    {
        var serve = await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        var paused = await _cli.DeployAsync("--env", "GREETING=v2");
        paused.Outcome.ShouldBe("Paused");

        serve.Kill();
        await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldNotBeEmpty();

        await _cli.StartServeAsync();
        var continued = await _cli.RunAsync("continue", paused.Id, "--output", "json");

        continued.ExitCode.ShouldBe(0, continued.Stdout + continued.Stderr);
        (await CliRunner.ServedRevisionsAsync(_prod, 10)).ShouldAllBe(r => r == 2);
        var events = JsonDocument.Parse(continued.Stdout).RootElement.GetProperty("events").EnumerateArray()
            .Select(e => e.GetProperty("type").GetString()).ToList();
        events.ShouldContain("Resumed");
    }

    [Fact]
    public async Task Serve_Stopped_LeavesNoProcessBehind()
    {
        var serve = await _cli.StartServeAsync();
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        ProcessesUsing(_cli.StateDirectory).ShouldNotBeEmpty();
        var pids = RecordedPids();
        pids.Count.ShouldBeGreaterThanOrEqualTo(3);

        // serve may take its host's shutdown timeout (30 s), then the platform's stop (instances' 5 s grace): a margin over both.
        await _cli.StopServeAsync(serve, TimeSpan.FromSeconds(90));
        serve.ExitCode.ShouldBe(0);
        ProcessesUsing(_cli.StateDirectory).ShouldBeEmpty();
        pids.Where(Backstay.Platform.Local.Processes.IsAlive).ShouldBeEmpty();
    }

    private static List<string> ProcessesUsing(string text) =>
        Directory.GetDirectories("/proc").Select(d => Path.Combine(d, "cmdline"))
            .Select(TryRead).Where(c => c is not null && c.Contains(text, StringComparison.Ordinal)).Select(c => c!).ToList();

    /// <summary>Every pid the local platform recorded for HAProxy and the instances.</summary>
    private List<int> RecordedPids()
    {
        var json = File.ReadAllText(Path.Combine(_cli.StateDirectory, "local", "platform.json"));
        var pids = new List<int>();
        Collect(JsonDocument.Parse(json).RootElement);
        return pids;

        void Collect(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        if (property.Name.Equals("pid", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.Number)
                        {
                            pids.Add(property.Value.GetInt32());
                        }
                        else
                        {
                            Collect(property.Value);
                        }
                    }

                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        Collect(item);
                    }

                    break;
            }
        }
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path).Replace('\0', ' ');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

}
