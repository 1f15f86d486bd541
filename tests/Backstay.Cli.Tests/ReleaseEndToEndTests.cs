using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>
/// `backstay release` on the local platform: three services (api; worker and web after it) as real processes behind a
/// real HAProxy and a real `backstay serve`, with clients sending requests to each the whole time.
/// </summary>
[Collection("serve")]
public sealed class ReleaseEndToEndTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(240);
    private static readonly string[] Services = ["api", "worker", "web"];

    private readonly CliRunner _cli = new();
    private readonly Dictionary<string, int> _ports = Services.ToDictionary(s => s, _ => CliRunner.FreePort());

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Release_ThirdServiceBadUnderLoad_AllThreeBackOnTheirPreviousRevisionsAndNoRequestLostOutsideTheBadRevision()
    {
        WriteSpecs();
        WriteRelease("release.yaml", webEnv: "{ ERROR_RATE: \"0.5\" }");
        var docs = new OutputSchemas.Checked();
        await _cli.StartServeAsync();
        await DeployFirstRevisionsAsync();
        using var load = new CancellationTokenSource();
        var answers = Services.ToDictionary(s => s, _ => new List<Answer>());
        var loading = Services.Select(s => Task.Run(() => RecordLoadAsync(_ports[s], answers[s], load.Token))).ToList();

        var run = await _cli.RunAsync(Long, "release", "-f", "release.yaml", "--output", "json");

        await Task.Delay(500);
        await load.CancelAsync();
        await Task.WhenAll(loading);
        var release = docs.Check("release", run, "release (web bad)");
        docs.ShouldHaveNoProblems();
        run.ExitCode.ShouldBe(3, run.Stdout + run.Stderr);
        release.GetProperty("outcome").GetString().ShouldBe("RolledBack");
        release.GetProperty("failedService").GetString().ShouldBe("web");
        release.GetProperty("reason").GetString()!.ShouldContain("error rate");
        release.GetProperty("timeToRestoreMs").GetInt64().ShouldBeGreaterThan(0);
        foreach (var service in release.GetProperty("services").EnumerateArray())
        {
            service.GetProperty("outcome").GetString().ShouldBe("RolledBack", service.GetRawText());
            service.GetProperty("fromRevision").GetInt32().ShouldBe(1);
            service.GetProperty("toRevision").GetInt32().ShouldBe(2);
        }

        var types = release.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        types.ShouldContain("ServiceFailed");
        types[^1].ShouldBe("RolledBack");

        foreach (var service in Services)
        {
            (await CliRunner.ServedRevisionsAsync(_ports[service], 10)).ShouldAllBe(r => r == 1, service);
            List<Answer> seen;
            lock (answers[service])
            {
                seen = [.. answers[service]];
            }

            // The worker deploys beside the bad web: when web fails before the worker's canary got traffic, the worker is
            // rolled back with its revision 2 never serving (seen once in CI on a busy machine), and nothing of it can be lost.
            if (service != "worker")
            {
                seen.ShouldContain(a => a.Revision == 2, $"{service}'s revision 2 had traffic");
            }

            var lost = seen.Where(a => a.Status != 200 && !(service == "web" && a.Revision == 2)).ToList();
            lost.ShouldBeEmpty($"{service}: {seen.Count} requests; lost outside the bad revision's own errors: " +
                string.Join(", ", lost.Take(10).Select(a => $"{a.Sent:HH:mm:ss.fff} {a.Status} r{a.Revision}")));
        }

        // The release is on record with its id.
        var history = JsonDocument.Parse((await _cli.RunAsync("history", "--releases", "--output", "json")).Stdout).RootElement;
        history.GetProperty("releases").EnumerateArray().Single().GetProperty("id").GetString().ShouldBe(release.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Release_ServeKilledWhileWorkerDeploys_NewServeCarriesItOnToSucceeded()
    {
        WriteSpecs(pause: "4s");
        WriteRelease("release.yaml", webEnv: "{ GREETING: v2 }");
        var docs = new OutputSchemas.Checked();
        var serve = await _cli.StartServeAsync();
        await DeployFirstRevisionsAsync();

        var started = docs.Check("release", await _cli.RunAsync(Long, "release", "-f", "release.yaml", "--no-wait", "--output", "json"), "release --no-wait");
        var id = started.GetProperty("id").GetString()!;
        await WaitForAsync(id, r => Service(r, "worker").GetProperty("outcome").GetString() == "Deploying", TimeSpan.FromSeconds(90), "worker deploying");
        serve.Kill();
        await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var left = docs.Check("status", await _cli.RunAsync("status", id, "--output", "json"), "status rel-ID (serve dead)");
        left.GetProperty("outcome").GetString().ShouldBe("InProgress");

        await _cli.StartServeAsync();
        var finished = await WaitForAsync(id, r => r.GetProperty("outcome").GetString() is not ("InProgress" or "RollingBack"), Long, "the release ending");

        finished.GetProperty("outcome").GetString().ShouldBe("Succeeded", finished.GetRawText());
        foreach (var service in Services)
        {
            var deployments = JsonDocument.Parse((await _cli.RunAsync("history", service, "--output", "json")).Stdout).RootElement.EnumerateArray()
                .Where(d => d.GetProperty("revision").GetInt32() == 2).ToList();
            deployments.Count.ShouldBe(1, $"{service}: one deployment of revision 2");
            (await CliRunner.ServedRevisionsAsync(_ports[service], 10)).ShouldAllBe(r => r == 2, service);
        }

        docs.Check("history", await _cli.RunAsync("history", id, "--output", "json"), "history rel-ID");
        docs.Check("history", await _cli.RunAsync("history", "--releases", "--output", "json"), "history --releases");
        docs.ShouldHaveNoProblems();
    }

    [Fact]
    public async Task Release_DependencyCycleOrUnknownService_RefusedNamingFileLineAndKeyWithNothingRecorded()
    {
        WriteSpecs();
        _cli.WriteFile("cycle.yaml", """
            release: checkout
            services:
              - spec: api/backstay.yaml
                dependsOn: [web]
              - spec: worker/backstay.yaml
                dependsOn: [api]
              - spec: web/backstay.yaml
                dependsOn: [worker]
            """);
        _cli.WriteFile("unknown.yaml", """
            release: checkout
            services:
              - spec: api/backstay.yaml
              - spec: web/backstay.yaml
                dependsOn: [apii]
            """);
        await _cli.StartServeAsync();

        var cycle = await _cli.RunAsync("release", "-f", "cycle.yaml");
        var unknown = await _cli.RunAsync("release", "-f", "unknown.yaml");

        cycle.ExitCode.ShouldBe(2, cycle.Stderr);
        cycle.Stderr.ShouldContain("cycle.yaml:4:");
        cycle.Stderr.ShouldContain("services[0].dependsOn: dependency cycle: api -> web -> worker -> api");
        unknown.ExitCode.ShouldBe(2, unknown.Stderr);
        unknown.Stderr.ShouldContain("unknown.yaml:5:");
        unknown.Stderr.ShouldContain("services[1].dependsOn[0]: unknown service 'apii'");
        unknown.Stderr.ShouldContain("Did you mean 'api'?");
        var releases = JsonDocument.Parse((await _cli.RunAsync("history", "--releases", "--output", "json")).Stdout).RootElement;
        releases.GetProperty("releases").GetArrayLength().ShouldBe(0);
        JsonDocument.Parse((await _cli.RunAsync("status", "--output", "json")).Stdout).RootElement.GetProperty("services").GetArrayLength().ShouldBe(0, "nothing was recorded");
    }

    private sealed record Answer(DateTimeOffset Sent, int Status, int Revision);

    /// <summary>
    /// Half the traffic for the pause, and 10 requests to judge: the test's client sends one request after another, so on
    /// a busy machine it may send only 10 or 20 a second; web's r2, failing half its requests, must still be caught.
    /// </summary>
    private void WriteSpecs(string pause = "4s")
    {
        foreach (var service in Services)
        {
            Directory.CreateDirectory(Path.Combine(_cli.WorkDirectory, service));
            _cli.WriteFile(Path.Combine(service, "backstay.yaml"), $$"""
                service: {{service}}
                platform:
                  local:
                    instances: 2
                    listeners: { production: 127.0.0.1:{{_ports[service]}} }
                task:
                  image: builtin:hello
                  startTimeout: 30s
                  healthCheck: { path: /healthz, interval: 200ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 2 }
                strategy:
                  canary: { steps: [ { setWeight: 50 }, { pause: { duration: {{pause}} } }, { setWeight: 100 } ] }
                analysis: { window: 5s, minRequests: 10, errorRate: { max: 5% }, consecutiveFailures: 1 }
                """);
        }
    }

    private void WriteRelease(string file, string webEnv) =>
        _cli.WriteFile(file, $$"""
            release: checkout-2026-12
            services:
              - spec: api/backstay.yaml
                env: { GREETING: v2 }
              - spec: worker/backstay.yaml
                dependsOn: [api]
                env: { GREETING: v2 }
              - spec: web/backstay.yaml
                dependsOn: [api]
                env: {{webEnv}}
            onFailure: rollbackAll
            """);

    private async Task DeployFirstRevisionsAsync()
    {
        foreach (var service in Services)
        {
            (await _cli.DeployAsync("-f", Path.Combine(service, "backstay.yaml"))).Outcome.ShouldBe("Succeeded", service);
        }
    }

    private static JsonElement Service(JsonElement release, string service) =>
        release.GetProperty("services").EnumerateArray().Single(s => s.GetProperty("service").GetString() == service);

    /// <summary>Reads the release (`status rel-ID`) until the condition holds; the limit is the test's margin over the specs' own timings.</summary>
    private async Task<JsonElement> WaitForAsync(string id, Func<JsonElement, bool> condition, TimeSpan limit, string what)
    {
        var clock = Stopwatch.StartNew();
        var last = "";
        while (clock.Elapsed < limit)
        {
            var status = await _cli.RunAsync("status", id, "--output", "json");
            last = status.Stdout + status.Stderr;
            if (status.ExitCode == 0 && JsonDocument.Parse(status.Stdout).RootElement is var release && condition(release))
            {
                return release.Clone();
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{what}: not reached within {limit}; last status:\n{last}");
    }

    /// <summary>Sends requests one after another and records each answer: its status and the revision that gave it (-1 when none did).</summary>
    private static async Task RecordLoadAsync(int port, List<Answer> answers, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (!cancellationToken.IsCancellationRequested)
        {
            var sent = DateTimeOffset.UtcNow;
            Answer answer;
            try
            {
                using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/"), cancellationToken);
                var revision = response.Headers.TryGetValues("X-Revision", out var values) ? int.Parse(values.First(), CultureInfo.InvariantCulture) : -1;
                answer = new Answer(sent, (int)response.StatusCode, revision);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                answer = new Answer(sent, 0, -1);
            }

            lock (answers)
            {
                answers.Add(answer);
            }

            try
            {
                await Task.Delay(10, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
