using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Backstay.Core.Model;
using FsCheck.Fluent;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Backstay.Server.Tests;

/// <summary>Every write door of the API checks what the CLI checks, refuses what it does not understand, and believes only the token.</summary>
[Collection("server")]
public sealed class ApiDoorsTests(ServerFixture server, ITestOutputHelper output)
{
    [Fact]
    public async Task Deploy_NegativeInstancesAndNoListener_Is400ProblemWithValidateWords_AndNothingMoves()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("doors"), pausing: false);
        var first = await admin.DeployAsync(Specs.Request(spec, "v1"));
        await admin.WaitForAsync(first.Id, 60, DeploymentState.Succeeded);

        var body = JsonSerializer.SerializeToNode(Specs.Request(spec, "v2"), ClientJson.Options)!;
        var local = body["spec"]!["platform"]!["local"]!.AsObject();
        local["instances"] = -5;
        local.Remove("productionListener");
        using var response = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/deployments", body.ToJsonString(), "application/json");
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, text);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = JsonDocument.Parse(text).RootElement;
        problem.GetProperty("status").GetInt32().ShouldBe(400);
        problem.GetProperty("type").GetString().ShouldNotBeNullOrEmpty();
        problem.GetProperty("title").GetString().ShouldNotBeNullOrEmpty();
        problem.GetProperty("detail").GetString()!.ShouldContain("platform.local.instances");
        var error = problem.GetProperty("errors").EnumerateArray().Single();
        error.GetProperty("key").GetString().ShouldBe("spec.platform.local.instances");
        error.GetProperty("message").GetString().ShouldBe("must be a whole number from 1 to 64, got -5");
        problem.GetProperty("errorCount").GetInt32().ShouldBe(1);

        (await admin.GetJsonAsync<List<Deployment>>($"api/services/{spec.Service}/deployments")).Single().Id.ShouldBe(first.Id);
        (await admin.GetJsonAsync<List<Revision>>($"api/services/{spec.Service}/revisions")).Count.ShouldBe(1);
        using var production = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var served = await production.GetAsync(new Uri("http://" + spec.Platform.Local!.ProductionListener + "/")).Within(10);
        served.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("""[ { "name": "ratio", "max": 0.1 } ]""", "spec.analysis.metrics[0]", "needs a provider")]
    [InlineData("""[ { "name": "ratio", "max": 0.1, "web": { "url": "http://127.0.0.1:9/", "jsonPath": "data" } } ]""", "spec.analysis.metrics[0].web.jsonPath", "must start with $")]
    [InlineData("""[ { "name": "ratio", "max": 0.1, "cloudWatch": { "queries": [ { "id": "e", "namespace": "N", "metricName": "M", "stat": "Sum" } ] } } ]""", "spec.analysis.metrics[0].cloudWatch", "needs `platform: ecs`")]
    public async Task Deploy_BadCustomMetric_Is400NamingTheKeyAsValidateDoes_AndNothingIsRecorded(string metrics, string key, string message)
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("metric"), pausing: false);

        var body = JsonSerializer.SerializeToNode(Specs.Request(spec, "v1"), ClientJson.Options)!;
        body["spec"]!["analysis"]!["metrics"] = JsonNode.Parse(metrics);
        using var response = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/deployments", body.ToJsonString(), "application/json");

        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, text);
        var errors = JsonDocument.Parse(text).RootElement.GetProperty("errors").EnumerateArray().ToList();
        errors.ShouldContain(e => e.GetProperty("key").GetString() == key && e.GetProperty("message").GetString()!.Contains(message), text);
        using var revisions = await admin.GetAsync($"api/services/{spec.Service}/revisions").Within(10);
        revisions.StatusCode.ShouldBe(HttpStatusCode.NotFound, "nothing was recorded for the service");
    }

    [Fact]
    public async Task Deploy_CustomMetricWithoutAName_Is400NamingWhereAndWhat()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("metric"), pausing: false);

        var body = JsonSerializer.SerializeToNode(Specs.Request(spec, "v1"), ClientJson.Options)!;
        body["spec"]!["analysis"]!["metrics"] = JsonNode.Parse("""[ { "max": 0.1, "web": { "url": "http://127.0.0.1:9/", "jsonPath": "$.v" } } ]""");
        using var response = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/deployments", body.ToJsonString(), "application/json");

        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, text);
        var detail = JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString().ShouldNotBeNull();
        detail.ShouldContain("metrics[0]", Case.Sensitive, detail);
        detail.ShouldContain("'name'");
    }

    [Fact]
    public async Task Deploy_ManyProblems_AnswersTheFirst50AndTheCount()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("many"), pausing: false);
        var body = JsonSerializer.SerializeToNode(Specs.Request(spec, "v1"), ClientJson.Options)!;
        var env = new JsonObject();
        for (var i = 0; i < 120; i++)
        {
            env["bad-name-" + i.ToString(CultureInfo.InvariantCulture)] = "x";
        }

        body["spec"]!["task"]!["env"] = env;
        using var response = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/deployments", body.ToJsonString(), "application/json");
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, text);
        var problem = JsonDocument.Parse(text).RootElement;
        problem.GetProperty("errors").GetArrayLength().ShouldBe(50);
        problem.GetProperty("errorCount").GetInt32().ShouldBe(120);
        problem.GetProperty("detail").GetString()!.ShouldContain("70 more problems");
        (await server.Plane.GetServiceAsync(spec.Service, CancellationToken.None)).ShouldBeNull();
    }

    [Theory]
    [InlineData("{\"mode\": 7}")]
    [InlineData("{\"mode\": \"Bogus\"}")]
    [InlineData("{\"mode\": \"Adopt\", \"force\": true}")]
    [InlineData("{\"mode\": true}")]
    [InlineData("{\"mode\": \"Adopt\", \"mode\": \"Recreate\"}")]
    [InlineData("null")]
    public async Task Reset_UnknownEnumFieldOrWrongType_Is400_AndNothingIsRecorded(string json)
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("reset"), pausing: false);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);

        using var response = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/reset", json, "application/json");
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        (await admin.GetJsonAsync<List<Deployment>>($"api/services/{spec.Service}/deployments")).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Rollback_WithADeployBodyOrTextPlain_IsRefused_AndTheDeploymentGoesOn()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("rbbody"), pausing: true);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var second = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await admin.WaitForAsync(second.Id, 60, DeploymentState.Paused);

        var deployBody = JsonSerializer.Serialize(Specs.Request(spec, "v3"), ClientJson.Options);
        using (var asDeploy = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/rollback", deployBody, "application/json"))
        {
            asDeploy.StatusCode.ShouldBe(HttpStatusCode.BadRequest, await asDeploy.Content.ReadAsStringAsync());
        }

        using (var asText = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/rollback", "{}", "text/plain"))
        {
            asText.StatusCode.ShouldBe(HttpStatusCode.UnsupportedMediaType, await asText.Content.ReadAsStringAsync());
        }

        (await admin.GetJsonAsync<Deployment>($"api/deployments/{second.Id}")).State.ShouldBe(DeploymentState.Paused);
        (await admin.GetJsonAsync<List<Deployment>>($"api/services/{spec.Service}/deployments")).Count.ShouldBe(2);

        // The documented body, or none, still rolls back.
        using var none = await SendAsync(admin, HttpMethod.Post, $"api/services/{spec.Service}/rollback", (byte[]?)null, null);
        none.StatusCode.ShouldBe(HttpStatusCode.Accepted, await none.Content.ReadAsStringAsync());
        await admin.WaitForAsync(second.Id, 60, DeploymentState.RolledBack);
    }

    [Fact]
    public async Task Roles_ViewerCannotRollBack_OperatorCannotDeployButRollsBack_AndTheHistoryNamesTheToken()
    {
        using var admin = server.Admin();
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var viewerToken = await CreateTokenAsync(admin, "view-" + suffix, "viewer");
        var operatorName = "ops-" + suffix;
        var operatorToken = await CreateTokenAsync(admin, operatorName, "operator");
        var spec = Specs.Canary(Specs.NewService("roles"), pausing: true);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var second = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await admin.WaitForAsync(second.Id, 60, DeploymentState.Paused);

        // A viewer that claims to be the admin is still a viewer.
        using (var viewer = new ApiClient(server.BaseUrl, viewerToken, user: "admin"))
        using (var refused = await viewer.PostAsync($"api/services/{spec.Service}/rollback", new { toRevision = (int?)null }).Within(30))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
            (await viewer.GetJsonAsync<JsonElement>("api/whoami")).GetProperty("requestedBy").GetString().ShouldBe("api:view-" + suffix);
        }

        using var operatorClient = new ApiClient(server.BaseUrl, operatorToken, user: "admin");
        using (var deploy = await operatorClient.PostAsync($"api/services/{spec.Service}/deployments", Specs.Request(spec, "v3")).Within(30))
        {
            deploy.StatusCode.ShouldBe(HttpStatusCode.Forbidden, await deploy.Content.ReadAsStringAsync());
        }

        using (var reset = await operatorClient.PostAsync($"api/services/{spec.Service}/reset", new { mode = "Adopt" }).Within(30))
        {
            reset.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }

        using (var tokens = await operatorClient.PostAsync("api/tokens", new { name = "sneaky-" + suffix, role = "admin" }).Within(30))
        {
            tokens.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }

        using (var rollback = await operatorClient.PostAsync($"api/services/{spec.Service}/rollback", new { toRevision = (int?)null }).Within(30))
        {
            rollback.StatusCode.ShouldBe(HttpStatusCode.Accepted, await rollback.Content.ReadAsStringAsync());
        }

        var rolledBack = await admin.WaitForAsync(second.Id, 60, DeploymentState.RolledBack);
        var events = await admin.GetJsonAsync<List<DeploymentEvent>>($"api/deployments/{second.Id}/events");
        events.ShouldContain(e => e.Message.Contains("api:" + operatorName), string.Join("\n", events.Select(e => e.Message)));
        events.ShouldNotContain(e => e.Message.Contains("api:admin"));
        rolledBack.State.ShouldBe(DeploymentState.RolledBack);

        // The store keeps hashes only, and a revoked token is refused at once.
        var file = await File.ReadAllTextAsync(Path.Combine(server.StateDirectory, "tokens.json"));
        file.ShouldNotContain(operatorToken);
        file.ShouldContain(operatorName);
        using (var revoke = await admin.Http.DeleteAsync(new Uri($"api/tokens/{operatorName}", UriKind.Relative)).Within(30))
        {
            revoke.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        }

        (await operatorClient.GetAsync("api/services").Within(30)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Acknowledge_RolledBackRelease_ByAnOperatorUnderItsTokensName_ClearsTheIncidentOnTheOverview()
    {
        using var admin = server.Admin();
        var suffix = Guid.NewGuid().ToString("N")[..6];
        using var viewer = new ApiClient(server.BaseUrl, await CreateTokenAsync(admin, "ackview-" + suffix, "viewer"));
        using var operatorClient = new ApiClient(server.BaseUrl, await CreateTokenAsync(admin, "ackops-" + suffix, "operator"));
        var spec = Specs.Canary(Specs.NewService("ack"), pausing: false);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var release = await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v2"))).Id, 60, DeploymentState.Succeeded);
        var path = $"api/services/{spec.Service}/acknowledge";
        using (var early = await operatorClient.PostAsync(path, new { note = "nothing yet" }).Within(30))
        {
            early.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
            (await early.Content.ReadAsStringAsync()).ShouldContain("Nothing to acknowledge");
        }

        var rollback = await admin.PostJsonAsync<Deployment>($"api/services/{spec.Service}/rollback", new { toRevision = 1 });
        await admin.WaitForAsync(rollback.Id, 60, DeploymentState.Succeeded);
        (await ReleaseOnOverviewAsync(admin, spec.Service)).GetProperty("isIncident").GetBoolean().ShouldBeTrue();

        using (var refused = await viewer.PostAsync(path, new { note = "mine" }).Within(30))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }

        foreach (var bad in new object[] { new { note = 5 }, new { note = "x", severity = "high" }, new { note = new string('x', 501) } })
        {
            using var response = await operatorClient.PostAsync(path, bad).Within(30);
            response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, JsonSerializer.Serialize(bad));
        }

        (await ReleaseOnOverviewAsync(admin, spec.Service)).GetProperty("isIncident").GetBoolean().ShouldBeTrue("a refused acknowledgement changes nothing");
        var acknowledged = await operatorClient.PostJsonAsync<JsonElement>(path, new { note = "INC-42, bad config" });
        acknowledged.GetProperty("acknowledged").GetProperty("by").GetString().ShouldBe("api:ackops-" + suffix);
        acknowledged.GetProperty("state").GetString().ShouldBe("RolledBack");

        var shown = await ReleaseOnOverviewAsync(admin, spec.Service);
        shown.GetProperty("isIncident").GetBoolean().ShouldBeFalse();
        shown.GetProperty("state").GetString().ShouldBe("RolledBack", "acknowledged is not succeeded");
        shown.GetProperty("acknowledged").GetProperty("note").GetString().ShouldBe("INC-42, bad config");
        var events = await admin.GetJsonAsync<List<DeploymentEvent>>($"api/deployments/{release.Id}/events");
        events[^1].Type.ShouldBe("Acknowledged");
        events[^1].Message.ShouldBe($"acknowledged by api:ackops-{suffix}: INC-42, bad config");
        using var twice = await operatorClient.PostAsync(path, new { }).Within(30);
        twice.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await twice.Content.ReadAsStringAsync()).ShouldContain("acknowledged already by api:ackops-" + suffix);
    }

    private static async Task<JsonElement> ReleaseOnOverviewAsync(ApiClient client, string service) =>
        (await client.GetJsonAsync<List<JsonElement>>("api/overview")).Single(s => s.GetProperty("service").GetProperty("name").GetString() == service).GetProperty("release");

    /// <summary>
    /// Hostile bodies, generated with FsCheck from the valid body of each write route: a value of another JSON kind
    /// anywhere, an unknown field anywhere, the text cut short, bytes that are not JSON, deep nesting, huge numbers
    /// and a wrong Content-Type. Each is answered 4xx, and the store is as it was.
    /// </summary>
    [Fact]
    public async Task WriteRoutes_HostileBodies_Are4xx_AndTheStoreIsUnchanged()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("hostile"), pausing: false);
        var first = await admin.DeployAsync(Specs.Request(spec, "v1"));
        await admin.WaitForAsync(first.Id, 60, DeploymentState.Succeeded);
        var other = Specs.Canary(Specs.NewService("hostile"), pausing: false);

        var routes = new (string Path, JsonNode Body)[]
        {
            ($"api/services/{spec.Service}/deployments", JsonSerializer.SerializeToNode(Specs.Request(spec, "v2"), ClientJson.Options)!),
            ($"api/services/{other.Service}/deployments", JsonSerializer.SerializeToNode(Specs.Request(other, "v1"), ClientJson.Options)!),
            ($"api/services/{spec.Service}/rollback", JsonNode.Parse("{\"toRevision\": 1}")!),
            ($"api/services/{spec.Service}/reset", JsonNode.Parse("{\"mode\": \"Recreate\"}")!),
            ($"api/services/{spec.Service}/acknowledge", JsonNode.Parse("{\"note\": \"INC-1\"}")!),
            ($"api/deployments/{first.Id}/continue", JsonNode.Parse("{\"hookId\": \"h-1\", \"full\": true}")!),
            ($"api/deployments/{first.Id}/stop", JsonNode.Parse("{\"rollback\": true}")!),
            ("api/tokens", JsonNode.Parse("{\"name\": \"hostile\", \"role\": \"admin\"}")!),
        };

        var before = await SnapshotAsync(admin, spec.Service, other.Service);
        var tried = 0;
        var statuses = new Dictionary<int, int>();
        const int PerRoute = 300;
        foreach (var (path, body) in routes)
        {
            foreach (var hostile in FsCheck.Fluent.Gen.Sample(HostileBodies.For(body), PerRoute, 30))
            {
                using var response = await SendAsync(admin, HttpMethod.Post, path, hostile.Content, hostile.ContentType);
                var status = (int)response.StatusCode;
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                tried++;
                if (status is < 400 or >= 500)
                {
                    throw new ShouldAssertException(
                        $"POST {path} answered {status} to a hostile body ({hostile.Kind}, {hostile.ContentType ?? "no Content-Type"}):\n" +
                        $"{Cut(Encoding.UTF8.GetString(hostile.Content))}\nanswer: {Cut(await response.Content.ReadAsStringAsync())}");
                }
            }
        }

        output.WriteLine($"{tried} hostile bodies tried on {routes.Length} write routes; statuses: " +
            string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}")));
        (await SnapshotAsync(admin, spec.Service, other.Service)).ShouldBe(before);
        server.Logs.Lines.Where(l => l.Level >= LogLevel.Error && l.Category.EndsWith("ApiExceptionHandler", StringComparison.Ordinal))
            .Select(l => l.Message).ShouldBeEmpty();
        tried.ShouldBe(routes.Length * PerRoute);
    }

    private static string Cut(string text) => text.Length > 600 ? text[..600] + "..." : text;

    /// <summary>The two services' records and deployments, and the tokens (other tests' deployments may still move).</summary>
    private static async Task<string> SnapshotAsync(ApiClient admin, params string[] names)
    {
        var deployments = (await admin.GetJsonAsync<List<Deployment>>("api/deployments?limit=10000")).Where(d => names.Contains(d.Service));
        var services = (await admin.GetJsonAsync<List<ServiceRecord>>("api/services")).Where(s => names.Contains(s.Name));
        using var tokens = await admin.GetAsync("api/tokens").Within(30);
        return string.Join('\n', deployments.Select(d => $"{d.Id} {d.State} {d.UpdatedAt:O}"))
            + "\n" + string.Join('\n', services.Select(s => $"{s.Name} {s.StableRevision}"))
            + "\n" + (int)tokens.StatusCode + " " + await tokens.Content.ReadAsStringAsync();
    }

    private static async Task<string> CreateTokenAsync(ApiClient admin, string name, string role)
    {
        var created = await admin.PostJsonAsync<JsonElement>("api/tokens", new { name, role });
        return created.GetProperty("token").GetString()!;
    }

    private static async Task<HttpResponseMessage> SendAsync(ApiClient client, HttpMethod method, string path, string? body, string? contentType) =>
        await SendAsync(client, method, path, body is null ? null : Encoding.UTF8.GetBytes(body), contentType);

    private static async Task<HttpResponseMessage> SendAsync(ApiClient client, HttpMethod method, string path, byte[]? body, string? contentType)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = null;
            if (contentType is not null)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }

        return await client.Http.SendAsync(request).Within(30);
    }
}

/// <summary>One hostile request body: its bytes, its Content-Type (or none) and what kind of hostility it is.</summary>
internal sealed record HostileBody(string Kind, byte[] Content, string? ContentType);

/// <summary>FsCheck generators of bodies that no write route may accept, made from a route's valid body.</summary>
internal static class HostileBodies
{
    private static readonly string[] WrongContentTypes =
        ["text/plain", "application/xml", "application/x-www-form-urlencoded", "application/json; charset=latin1", "multipart/form-data; boundary=x", "json", "application/json; charset=utf-16"];

    public static FsCheck.Gen<HostileBody> For(JsonNode valid)
    {
        var text = valid.ToJsonString();
        var paths = Paths(valid, "$").ToArray();
        var objects = paths.Where(p => Find(valid, p) is JsonObject).ToArray();
        return FsCheck.Fluent.Gen.OneOf(
            from index in FsCheck.Fluent.Gen.Choose(0, paths.Length - 1)
            from seed in FsCheck.Fluent.Gen.Choose(0, int.MaxValue - 1)
            select Retype(valid, paths[index], seed),
            from index in FsCheck.Fluent.Gen.Choose(0, objects.Length - 1)
            from name in FsCheck.Fluent.Gen.Elements("0-unknown", "0 spaces and ünïcode", "0\u0000nul", "0-" + new string('k', 5000))
            select AddField(valid, objects[index], name),
            from cut in FsCheck.Fluent.Gen.Choose(1, text.Length - 1)
            select new HostileBody("cut short", Encoding.UTF8.GetBytes(text[..cut]), "application/json"),
            from bytes in FsCheck.Fluent.Gen.ArrayOf(FsCheck.Fluent.Gen.Choose(0, 255).Select(b => (byte)b))
            select new HostileBody("not JSON", [0xFF, .. bytes], "application/json"),
            from depth in FsCheck.Fluent.Gen.Choose(33, 20_000)
            select new HostileBody("deep nesting", Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth)), "application/json"),
            from type in FsCheck.Fluent.Gen.Elements(WrongContentTypes)
            select new HostileBody("wrong content type", Encoding.UTF8.GetBytes(text), type),
            FsCheck.Fluent.Gen.Constant(new HostileBody("no content type", Encoding.UTF8.GetBytes(text), null)));
    }

    /// <summary>The value at a path replaced by one of another JSON kind (never by null or, where null was, by text).</summary>
    private static HostileBody Retype(JsonNode valid, string path, int seed)
    {
        var copy = valid.DeepClone();
        var original = Find(copy, path);
        var kind = original?.GetValueKind();
        var random = new Random(seed);
        var candidates = new List<Func<JsonNode>>
        {
            () => JsonValue.Create(random.Next(5) switch { 0 => -5, 1 => int.MaxValue, 2 => 0, 3 => int.MinValue, _ => 1 }),
            () => JsonNode.Parse("1e308")!,
            () => JsonNode.Parse("123456789012345678901234567890")!,
            () => JsonValue.Create(random.Next(2) == 0),
            () => new JsonArray(JsonValue.Create("x"), null, new JsonObject()),
            () => new JsonObject { ["type"] = "setWeight", ["weight"] = "50" },
        };
        if (kind is not (null or JsonValueKind.Null))
        {
            candidates.Add(() => JsonValue.Create(random.Next(3) switch { 0 => "-5", 1 => "\u0000\u001b[31m", _ => new string('a', 20_000) }));
        }

        JsonNode replacement;
        do
        {
            replacement = candidates[random.Next(candidates.Count)]();
        }
        while (SameKind(replacement.GetValueKind(), kind));

        var changed = Replace(copy, path, replacement);
        return new HostileBody("value of another kind at " + path, Encoding.UTF8.GetBytes(changed.ToJsonString()), "application/json");
    }

    private static bool SameKind(JsonValueKind a, JsonValueKind? b) =>
        a == b || (a is JsonValueKind.True or JsonValueKind.False && b is JsonValueKind.True or JsonValueKind.False);

    private static HostileBody AddField(JsonNode valid, string path, string name)
    {
        var copy = valid.DeepClone();
        ((JsonObject)Find(copy, path)!)[name] = 1;
        return new HostileBody("unknown field at " + path, Encoding.UTF8.GetBytes(copy.ToJsonString()), "application/json");
    }

    private static IEnumerable<string> Paths(JsonNode? node, string path)
    {
        yield return path;
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    foreach (var inner in Paths(value, path + "." + key))
                    {
                        yield return inner;
                    }
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    foreach (var inner in Paths(array[i], path + "[" + i.ToString(CultureInfo.InvariantCulture) + "]"))
                    {
                        yield return inner;
                    }
                }

                break;
        }
    }

    private static IEnumerable<string> Steps(string path)
    {
        foreach (var part in path[1..].Replace("[", ".[", StringComparison.Ordinal).Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            yield return part;
        }
    }

    private static JsonNode? Find(JsonNode root, string path)
    {
        var node = root;
        foreach (var step in Steps(path))
        {
            node = step.StartsWith('[') ? node![int.Parse(step[1..^1], CultureInfo.InvariantCulture)] : node![step];
        }

        return node;
    }

    /// <summary>Replaces the node at a path; the root itself is replaced by returning the new node.</summary>
    private static JsonNode Replace(JsonNode root, string path, JsonNode replacement)
    {
        var steps = Steps(path).ToList();
        if (steps.Count == 0)
        {
            return replacement;
        }

        var parent = root;
        foreach (var step in steps[..^1])
        {
            parent = step.StartsWith('[') ? parent![int.Parse(step[1..^1], CultureInfo.InvariantCulture)] : parent![step];
        }

        var last = steps[^1];
        if (last.StartsWith('['))
        {
            parent!.AsArray()[int.Parse(last[1..^1], CultureInfo.InvariantCulture)] = replacement;
        }
        else
        {
            parent!.AsObject()[last] = replacement;
        }

        return root;
    }
}
