using System.Net;
using System.Text.Json;
using Backstay.Core.Model;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Backstay.Server.Tests;

/// <summary>The REST API on a real Kestrel, with the real engine, local platform and SQLite behind it.</summary>
[Collection("server")]
public sealed class ApiTests(ServerFixture server)
{
    [Fact]
    public async Task Api_WithoutOrWithWrongToken_Returns401WithErrorBody()
    {
        using var anonymous = server.Anonymous();
        using var response = await anonymous.GetAsync("api/services").Within(10);
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ToString().ShouldStartWith("Bearer");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        body.GetProperty("kind").GetString().ShouldBe("unauthorized");
        body.GetProperty("error").GetString()!.ShouldContain("token");

        using var wrong = new ApiClient(server.BaseUrl, server.AdminToken + "x");
        (await wrong.GetAsync("api/services").Within(10)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await wrong.PostAsync("api/services/x/rollback", new { }).Within(10)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await anonymous.GetAsync("api/events").Within(10)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await anonymous.GetAsync("api/openapi.json").Within(10)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Api_ViewerToken_ReadsButWritesAre403()
    {
        using var viewer = server.Viewer();
        (await viewer.GetJsonAsync<List<ServiceRecord>>("api/services")).ShouldNotBeNull();
        var me = await viewer.GetJsonAsync<JsonElement>("api/whoami");
        me.GetProperty("role").GetString().ShouldBe("viewer");

        var spec = Specs.Canary(Specs.NewService("viewer"), pausing: false);
        using var response = await viewer.PostAsync($"api/services/{spec.Service}/deployments", Specs.Request(spec, "v1")).Within(10);
        response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("kind").GetString().ShouldBe("forbidden");
        (await viewer.PostAsync("api/deployments/d-X/continue", new { }).Within(10)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await server.Plane.GetServiceAsync(spec.Service, CancellationToken.None)).ShouldBeNull();
    }

    [Fact]
    public async Task Deploy_ThroughPost_IsRecordedWithWhoAndSucceeds()
    {
        using var admin = server.Admin(user: "alice");
        var spec = Specs.Canary(Specs.NewService("web"), pausing: false);
        using var created = await admin.PostAsync($"api/services/{spec.Service}/deployments", Specs.Request(spec, "v1", commit: "0123456789abcdef0123456789abcdef01234567")).Within(30);
        created.StatusCode.ShouldBe(HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var deployment = JsonSerializer.Deserialize<Deployment>(await created.Content.ReadAsStringAsync(), ClientJson.Options)!;
        created.Headers.Location!.ToString().ShouldBe($"/api/deployments/{deployment.Id}");
        deployment.RequestedBy.ShouldBe("api:admin"); // the token's name: X-Backstay-User is not believed
        deployment.Service.ShouldBe(spec.Service);

        var done = await admin.WaitForAsync(deployment.Id, 60, DeploymentState.Succeeded);
        done.TargetWeight.ShouldBe(100);

        var service = await admin.GetJsonAsync<ServiceRecord>($"api/services/{spec.Service}");
        service.StableRevision.ShouldBe(1);
        var revisions = await admin.GetJsonAsync<List<Revision>>($"api/services/{spec.Service}/revisions");
        revisions.Single().Digest.ShouldStartWith("sha256:");
        revisions.Single().Provenance.Commit.ShouldBe("0123456789abcdef0123456789abcdef01234567");
        (await admin.GetJsonAsync<List<Deployment>>($"api/services/{spec.Service}/deployments?limit=5")).Single().Id.ShouldBe(deployment.Id);
        (await admin.GetJsonAsync<List<Deployment>>("api/deployments?active=false&limit=100")).ShouldContain(d => d.Id == deployment.Id);
        (await admin.GetJsonAsync<List<Deployment>>("api/deployments?active=true")).ShouldNotContain(d => d.Id == deployment.Id);
        var events = await admin.GetJsonAsync<List<DeploymentEvent>>($"api/deployments/{deployment.Id}/events");
        events.ShouldContain(e => e.Type == "Succeeded");
        var later = await admin.GetJsonAsync<List<DeploymentEvent>>($"api/deployments/{deployment.Id}/events?after={events[^2].Sequence}");
        later.Single().Sequence.ShouldBe(events[^1].Sequence);
        (await admin.GetJsonAsync<List<HookRun>>($"api/deployments/{deployment.Id}/hooks")).ShouldBeEmpty();
        (await admin.GetJsonAsync<List<string>>($"api/services/{spec.Service}/drift")).ShouldBeEmpty();
        (await admin.GetJsonAsync<JsonElement>("api/controller")).GetProperty("running").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task PausedCanary_SecondDeployIsConflict_ThenContinueSucceeds()
    {
        using var admin = server.Admin(user: "bob");
        var spec = Specs.Canary(Specs.NewService("canary"), pausing: true);
        var first = await admin.DeployAsync(Specs.Request(spec, "v1"));
        await admin.WaitForAsync(first.Id, 60, DeploymentState.Succeeded);

        var second = await admin.DeployAsync(Specs.Request(spec, "v2"));
        var paused = await admin.WaitForAsync(second.Id, 60, DeploymentState.Paused);
        paused.TargetWeight.ShouldBe(50);

        using (var conflict = await admin.PostAsync($"api/services/{spec.Service}/deployments", Specs.Request(spec, "v3")).Within(30))
        {
            conflict.StatusCode.ShouldBe(HttpStatusCode.Conflict);
            var body = JsonDocument.Parse(await conflict.Content.ReadAsStringAsync()).RootElement;
            body.GetProperty("kind").GetString().ShouldBe("conflict");
            body.GetProperty("activeDeploymentId").GetString().ShouldBe(second.Id);
            body.GetProperty("error").GetString()!.ShouldContain(second.Id);
        }

        using (var reset = await admin.PostAsync($"api/services/{spec.Service}/reset", new { mode = "Adopt" }).Within(30))
        {
            reset.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        }

        var active = await admin.GetJsonAsync<List<Deployment>>("api/deployments?active=true");
        active.ShouldContain(d => d.Id == second.Id && d.State == DeploymentState.Paused);

        using (var continued = await admin.PostAsync($"api/deployments/{second.Id}/continue", new { hookId = (string?)null, full = false }).Within(30))
        {
            continued.StatusCode.ShouldBe(HttpStatusCode.Accepted, await continued.Content.ReadAsStringAsync());
        }

        var done = await admin.WaitForAsync(second.Id, 60, DeploymentState.Succeeded);
        done.TargetWeight.ShouldBe(100);
        var events = await admin.GetJsonAsync<List<DeploymentEvent>>($"api/deployments/{second.Id}/events");
        events.ShouldContain(e => e.Type == "ContinueRequested" && e.Message.Contains("api:admin"));

        using var again = await admin.PostAsync($"api/deployments/{second.Id}/continue", null).Within(30);
        again.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("kind").GetString().ShouldBe("invalid");
    }

    [Fact]
    public async Task Deploy_HandWrittenJsonAsInTheDocs_IsAccepted()
    {
        using var admin = server.Admin();
        var service = Specs.NewService("curl");
        var json = $$"""
            {
              "spec": {
                "service": "{{service}}",
                "platform": { "local": { "instances": 1, "productionListener": "127.0.0.1:{{Specs.FreePort()}}" } },
                "task": { "image": "builtin:hello", "port": 8080,
                          "healthCheck": { "path": "/healthz", "interval": "00:00:00.5", "timeout": "00:00:00.4", "healthyThreshold": 1, "unhealthyThreshold": 2 } },
                "strategy": { "canary": { "steps": [ { "type": "setWeight", "weight": 20 }, { "type": "pause", "duration": null }, { "type": "setWeight", "weight": 100 } ] } }
              },
              "env": { "GREETING": "hi v2" },
              "provenance": { "commit": "3f2c9e1", "message": "friendlier greeting", "author": "Alice" }
            }
            """;
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await admin.Http.PostAsync(new Uri($"api/services/{service}/deployments", UriKind.Relative), content).Within(30);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Created, text);
        var deployment = JsonSerializer.Deserialize<Deployment>(text, ClientJson.Options)!;
        await admin.WaitForAsync(deployment.Id, 60, DeploymentState.Succeeded);
        (await admin.GetJsonAsync<List<Revision>>($"api/services/{service}/revisions")).Single().Env["GREETING"].ShouldBe("hi v2");
    }

    [Fact]
    public async Task Unknown_ServiceOrDeployment_Is404WithTheControlPlanesWords()
    {
        using var admin = server.Admin();
        using var getService = await admin.GetAsync("api/services/no-such-service").Within(10);
        using var rollback = await admin.PostAsync("api/services/no-such-service/rollback", new { toRevision = (int?)null }).Within(10);
        using var revisions = await admin.GetAsync("api/services/no-such-service/revisions").Within(10);
        getService.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        rollback.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        revisions.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var serviceError = Error(await getService.Content.ReadAsStringAsync());
        serviceError.Kind.ShouldBe("notFound");
        serviceError.Message.ShouldStartWith("Unknown service 'no-such-service'.");
        Error(await rollback.Content.ReadAsStringAsync()).Message.ShouldBe(serviceError.Message);

        using var getDeployment = await admin.GetAsync("api/deployments/d-NOSUCHONE").Within(10);
        using var continueUnknown = await admin.PostAsync("api/deployments/d-NOSUCHONE/continue", new { }).Within(10);
        using var events = await admin.GetAsync("api/deployments/d-NOSUCHONE/events").Within(10);
        getDeployment.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        continueUnknown.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        events.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        Error(await continueUnknown.Content.ReadAsStringAsync()).Message.ShouldBe(Error(await getDeployment.Content.ReadAsStringAsync()).Message);

        (await admin.GetAsync("api/no/such/route").Within(10)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task BadRequests_Are400WithAReason()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("bad"), pausing: false);
        using var mismatch = await admin.PostAsync("api/services/another-name/deployments", Specs.Request(spec, "v1")).Within(10);
        mismatch.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var error = Error(await mismatch.Content.ReadAsStringAsync());
        error.Kind.ShouldBe("invalid");
        error.Message.ShouldContain(spec.Service);

        using var content = new StringContent("{ not json", System.Text.Encoding.UTF8, "application/json");
        using var malformed = await admin.Http.PostAsync(new Uri($"api/services/{spec.Service}/deployments", UriKind.Relative), content).Within(10);
        malformed.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        Error(await malformed.Content.ReadAsStringAsync()).Kind.ShouldBe("invalid");

        (await admin.GetAsync("api/deployments?limit=abc").Within(10)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await admin.GetAsync("api/deployments?active=maybe").Within(10)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await admin.PostAsync("api/services/whatever/reset", new { }).Within(10)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Events_StreamDeliversANewDeploymentsEvents()
    {
        using var admin = server.Admin();
        admin.Http.Timeout = Timeout.InfiniteTimeSpan;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("api/events", UriKind.Relative));
        using var response = await admin.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token).Within(10);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/event-stream");
        await using var stream = await response.Content.ReadAsStreamAsync(cancel.Token);
        using var reader = new StreamReader(stream);

        var spec = Specs.Canary(Specs.NewService("sse"), pausing: false);
        var deployment = await admin.DeployAsync(Specs.Request(spec, "v1"));
        var received = new List<DeploymentEvent>();
        string? lastId = null;
        string? eventName = null;
        while (received.All(e => e.Type != "Succeeded"))
        {
            var line = await reader.ReadLineAsync(cancel.Token).AsTask().Within(90) ?? throw new ShouldAssertException("The stream ended.");
            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                lastId = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventName = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal) && eventName == "series")
            {
                // Chart points of running deployments come on the same stream, without an id.
                var series = JsonDocument.Parse(line[6..]).RootElement;
                series.GetProperty("deploymentId").GetString().ShouldNotBeNullOrEmpty();
                series.GetProperty("points").GetArrayLength().ShouldBeGreaterThan(0);
                eventName = null;
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                eventName.ShouldBe("deployment");
                var e = JsonSerializer.Deserialize<DeploymentEvent>(line[6..], ClientJson.Options)!;
                lastId.ShouldBe(e.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (e.DeploymentId == deployment.Id)
                {
                    received.Add(e);
                }
            }
        }

        received.Select(e => e.Type).ShouldContain("Started");
        received.Select(e => e.Sequence).ShouldBe(received.Select(e => e.Sequence).Order().Distinct());
        var stored = await admin.GetJsonAsync<List<DeploymentEvent>>($"api/deployments/{deployment.Id}/events");
        received.Select(e => e.Sequence).ShouldBe(stored.Where(e => e.Sequence <= received[^1].Sequence).Select(e => e.Sequence));
    }

    [Fact]
    public async Task Series_CanaryUnderLoad_HasPointsOfBothRevisionsWithThresholdsAndTheRollbackKeepsThem()
    {
        using var viewer = server.Viewer();
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("series"), pausing: true);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var canary = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await admin.WaitForAsync(canary.Id, 60, DeploymentState.Paused);

        // Points come a second apart at most; figures over the 5 s window need a few of them with load on both revisions.
        var deadline = spec.Analysis.Window * 3 + TimeSpan.FromSeconds(30);
        var load = TrafficLoad.SendAsync(spec, deadline);
        var series = await viewer.GetJsonAsync<JsonElement>($"api/deployments/{canary.Id}/series");
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); !Measured(series, 1) || !Measured(series, 2); await Task.Delay(250))
        {
            clock.Elapsed.ShouldBeLessThan(deadline, $"no measured points of both revisions yet: {series}");
            series = await viewer.GetJsonAsync<JsonElement>($"api/deployments/{canary.Id}/series");
        }

        series.GetProperty("schemaVersion").GetInt32().ShouldBe(1);
        series.GetProperty("deploymentId").GetString().ShouldBe(canary.Id);
        series.GetProperty("fromRevision").GetInt32().ShouldBe(1);
        series.GetProperty("toRevision").GetInt32().ShouldBe(2);
        series.GetProperty("stableRevision").GetInt32().ShouldBe(1);
        series.GetProperty("newRevision").GetInt32().ShouldBe(2);
        series.GetProperty("windowMs").GetDouble().ShouldBe(spec.Analysis.Window.TotalMilliseconds);
        series.GetProperty("intervalMs").GetDouble().ShouldBe(1000);
        series.GetProperty("thresholds").GetProperty("errorRate").GetDouble().ShouldBe(0.05);
        series.GetProperty("thresholds").GetProperty("latencyP99Ms").GetDouble().ShouldBe(300);
        series.GetProperty("failedAt").ValueKind.ShouldBe(JsonValueKind.Null);
        var points = series.GetProperty("points").EnumerateArray().ToList();
        points.Select(p => p.GetProperty("at").GetDateTimeOffset()).ShouldBeInOrder();
        var measured = points.First(p => p.GetProperty("revision").GetInt32() == 2 && p.GetProperty("requests") is { ValueKind: JsonValueKind.Number } requests && requests.GetInt64() > 0);
        measured.GetProperty("weight").GetInt32().ShouldBe(50);
        foreach (var figure in new[] { "errorRate", "p50Ms", "p95Ms", "p99Ms" })
        {
            measured.GetProperty(figure).ValueKind.ShouldBe(JsonValueKind.Number, figure);
        }

        var cut = points[points.Count / 2].GetProperty("at").GetString()!;
        var later = await viewer.GetJsonAsync<JsonElement>($"api/deployments/{canary.Id}/series?after={Uri.EscapeDataString(cut)}");
        later.GetProperty("points").EnumerateArray().ShouldAllBe(p => p.GetProperty("at").GetDateTimeOffset() > DateTimeOffset.Parse(cut, System.Globalization.CultureInfo.InvariantCulture));

        // Rolled back by a person: the failure is marked, and the rollback's page shows the same story with stable kept stable.
        await admin.PostJsonAsync<Deployment>($"api/deployments/{canary.Id}/stop", new { rollback = true });
        var rolledBack = await admin.WaitForAsync(canary.Id, 60, DeploymentState.RolledBack);
        await load;
        var after = await viewer.GetJsonAsync<JsonElement>($"api/deployments/{canary.Id}/series");
        after.GetProperty("failedAt").GetDateTimeOffset().ShouldBeGreaterThan(points[0].GetProperty("at").GetDateTimeOffset());
        var rollback = await viewer.GetJsonAsync<JsonElement>($"api/deployments/{rolledBack.RolledBackBy}/series");
        rollback.GetProperty("kind").GetString().ShouldBe("Rollback");
        rollback.GetProperty("stableRevision").GetInt32().ShouldBe(1);
        rollback.GetProperty("newRevision").GetInt32().ShouldBe(2);
        rollback.GetProperty("failedAt").GetString().ShouldBe(after.GetProperty("failedAt").GetString());
        rollback.GetProperty("points").GetArrayLength().ShouldBeGreaterThanOrEqualTo(points.Count);

        using var unknown = await viewer.GetAsync("api/deployments/d-NOSUCHONE/series").Within(10);
        unknown.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        unknown.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        Error(await unknown.Content.ReadAsStringAsync()).Kind.ShouldBe("notFound");
        (await viewer.GetAsync($"api/deployments/{canary.Id}/series?after=yesterday").Within(10)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        static bool Measured(JsonElement series, int revision) =>
            series.GetProperty("points").EnumerateArray().Any(p => p.GetProperty("revision").GetInt32() == revision
                && p.GetProperty("requests") is { ValueKind: JsonValueKind.Number } requests && requests.GetInt64() > 0);
    }

    [Fact]
    public async Task Metrics_ArePrometheusText_OpenLocallyOnly()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("metrics"), pausing: false);
        var deployment = await admin.DeployAsync(Specs.Request(spec, "v1"));
        await admin.WaitForAsync(deployment.Id, 60, DeploymentState.Succeeded);

        using var anonymous = server.Anonymous();
        using var response = await anonymous.GetAsync("metrics").Within(30);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        var text = await response.Content.ReadAsStringAsync();
        foreach (var name in new[]
        {
            "backstay_deployments_total{kind=\"deploy\",outcome=\"Succeeded\"}",
            "backstay_deployments_in_progress ",
            "backstay_time_to_safety_seconds_count ",
            "backstay_step_duration_seconds_bucket{action=\"scale\",le=\"+Inf\"}",
            "backstay_step_duration_seconds_count{action=\"scale\"}",
            "# TYPE backstay_time_to_safety_seconds histogram",
        })
        {
            text.ShouldContain(name);
        }

        // The engine timed its own decisions while it ran the canary, and its observation passes.
        Sample(text, "backstay_engine_tick_seconds_count{phase=\"watch\"}").ShouldBeGreaterThan(0);
        Sample(text, "backstay_engine_observe_seconds_count").ShouldBeGreaterThan(0);
        Sample(text, "backstay_engine_tick_seconds_sum{phase=\"watch\"}").ShouldBeGreaterThan(0, "real time passes in a decision on a real clock");
        Sample(text, "backstay_engine_tick_seconds_bucket{phase=\"watch\",le=\"+Inf\"}").ShouldBe(Sample(text, "backstay_engine_tick_seconds_count{phase=\"watch\"}"));

        // A page on another site that makes the browser call a loopback address names its own host: it needs a token.
        using var rebound = new HttpRequestMessage(HttpMethod.Get, new Uri("metrics", UriKind.Relative));
        rebound.Headers.Host = "attacker.example";
        using var refused = await anonymous.Http.SendAsync(rebound).Within(10);
        refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        using var withToken = new HttpRequestMessage(HttpMethod.Get, new Uri("metrics", UriKind.Relative));
        withToken.Headers.Host = "attacker.example";
        withToken.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", server.ViewerToken);
        (await anonymous.Http.SendAsync(withToken).Within(10)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    private static double Sample(string text, string series)
    {
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        line.ShouldNotBeNull($"/metrics has no sample {series}");
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Deployment_PlanAndProgress_AreJsonObjectsNotStrings()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("plan"), pausing: true);
        var first = await admin.DeployAsync(Specs.Request(spec, "v1"));
        await admin.WaitForAsync(first.Id, 60, DeploymentState.Succeeded);
        var second = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await admin.WaitForAsync(second.Id, 60, DeploymentState.Paused);

        // The live figures come with the watchdog's first look at the paused canary.
        var one = await admin.GetJsonAsync<JsonElement>($"api/deployments/{second.Id}");
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); !HasProgress(one) && clock.Elapsed < TimeSpan.FromSeconds(20);)
        {
            await Task.Delay(250);
            one = await admin.GetJsonAsync<JsonElement>($"api/deployments/{second.Id}");
        }

        var listed = (await admin.GetJsonAsync<JsonElement>("api/deployments?active=true")).EnumerateArray().Single(d => d.GetProperty("id").GetString() == second.Id);
        var overview = (await admin.GetJsonAsync<JsonElement>("api/overview")).EnumerateArray()
            .Single(s => s.GetProperty("service").GetProperty("name").GetString() == spec.Service).GetProperty("activeDeployment");

        foreach (var (where, deployment) in new[] { ($"GET api/deployments/{second.Id}", one), ("GET api/deployments?active=true", listed), ("GET api/overview", overview) })
        {
            var keys = string.Join(", ", deployment.EnumerateObject().Select(p => p.Name));
            deployment.TryGetProperty("plan", out var plan).ShouldBeTrue($"{where}: no plan; it has {keys}");
            plan.ValueKind.ShouldBe(JsonValueKind.Object, where);
            plan.GetProperty("actions").ValueKind.ShouldBe(JsonValueKind.Array, where);
            deployment.TryGetProperty("progress", out var progress).ShouldBeTrue($"{where}: no progress; it has {keys}");
            progress.ValueKind.ShouldBe(JsonValueKind.Object, where);
            progress.GetProperty("targetWeight").ValueKind.ShouldBe(JsonValueKind.Number, where);
            deployment.TryGetProperty("planJson", out _).ShouldBeFalse(where);
            deployment.TryGetProperty("progressJson", out _).ShouldBeFalse(where);
            JsonInsideStrings(deployment).ShouldBeEmpty($"{where}: strings that hold JSON");
        }

        // A .NET client reads the objects back into the record, as the CLI does through the API.
        var read = JsonSerializer.Deserialize<Deployment>(one.GetRawText(), ClientJson.Options)!;
        Backstay.Core.Engine.DeploymentPlan.FromJson(read.PlanJson).Actions.ShouldNotBeEmpty();
        Backstay.Core.Engine.DeploymentProgress.Parse(read.ProgressJson).ShouldNotBeNull().TargetDesired.ShouldBe(one.GetProperty("progress").GetProperty("targetDesired").GetInt32());
        using var continued = await admin.PostAsync($"api/deployments/{second.Id}/continue", new { full = true }).Within(30);
        continued.StatusCode.ShouldBe(HttpStatusCode.Accepted);
    }

    private static bool HasProgress(JsonElement deployment) =>
        (deployment.TryGetProperty("progress", out var p) && p.ValueKind != JsonValueKind.Null)
        || (deployment.TryGetProperty("progressJson", out var pj) && pj.ValueKind != JsonValueKind.Null);

    /// <summary>The paths of the strings in a document that parse as a JSON object or array.</summary>
    private static List<string> JsonInsideStrings(JsonElement element, string path = "")
    {
        var found = new List<string>();
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                found.AddRange(JsonInsideStrings(property.Value, $"{path}/{property.Name}"));
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in element.EnumerateArray())
            {
                found.AddRange(JsonInsideStrings(item, $"{path}/{i++}"));
            }
        }
        else if (element.ValueKind == JsonValueKind.String && element.GetString()!.Trim() is { Length: > 1 } text && text[0] is '{' or '[')
        {
            try
            {
                using var inner = JsonDocument.Parse(text);
                if (inner.RootElement.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                {
                    found.Add(path);
                }
            }
            catch (JsonException)
            {
            }
        }

        return found;
    }

    [Fact]
    public async Task Healthz_NeedsNoToken()
    {
        using var anonymous = server.Anonymous();
        using var response = await anonymous.GetAsync("healthz").Within(10);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain("ok");
    }

    [Fact]
    public async Task OpenApi_ListsEveryMappedRoute()
    {
        using var viewer = server.Viewer();
        var document = await viewer.GetJsonAsync<JsonElement>("api/openapi.json");
        document.GetProperty("openapi").GetString().ShouldStartWith("3.");
        var paths = document.GetProperty("paths");
        var routes = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && (raw.StartsWith("/api/", StringComparison.Ordinal) || raw is "/healthz" or "/metrics"))
            .Where(e => !e.RoutePattern.RawText!.Contains("**", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (Path: e.RoutePattern.RawText!, Method: m)))
            .ToList();
        routes.Count.ShouldBeGreaterThan(18);
        foreach (var (path, method) in routes)
        {
            paths.TryGetProperty(path, out var item).ShouldBeTrue($"{path} is not in openapi.json");
            item.TryGetProperty(method.ToLowerInvariant(), out _).ShouldBeTrue($"{method} {path} is not in openapi.json");
        }
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Tokens_AreOwnerOnlyRandomAndNeverLogged()
    {
        foreach (var (file, token) in new[] { ("token", server.AdminToken), ("token.read", server.ViewerToken) })
        {
            var path = Path.Combine(server.StateDirectory, file);
            File.GetUnixFileMode(path).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            token.Length.ShouldBe(43);
            token.ShouldMatch("^[A-Za-z0-9_-]+$");
            server.Logs.Text.ShouldNotContain(token);
        }

        server.AdminToken.ShouldNotBe(server.ViewerToken);
    }

    [Fact]
    public async Task ServerFile_NamesTheRealPortAndThisProcess()
    {
        var info = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(server.StateDirectory, "server.json"))).RootElement;
        info.GetProperty("url").GetString().ShouldBe(server.BaseUrl.ToString().TrimEnd('/'));
        info.GetProperty("pid").GetInt32().ShouldBe(Environment.ProcessId);
        server.BaseUrl.Port.ShouldNotBe(0);
    }

    private static (string Message, string Kind) Error(string json)
    {
        var root = JsonDocument.Parse(json).RootElement;
        return (root.GetProperty("error").GetString()!, root.GetProperty("kind").GetString()!);
    }
}
