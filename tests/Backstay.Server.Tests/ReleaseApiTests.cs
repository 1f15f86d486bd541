using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Backstay.Core.Model;
using Backstay.Core.Releases;

namespace Backstay.Server.Tests;

/// <summary>
/// /api/releases on a real Kestrel with the real engine and local platform: what `backstay release` sends is accepted,
/// what the release file's reader would refuse is refused (400 naming the key) with nothing recorded, and a release
/// runs to its end through the API alone.
/// </summary>
[Collection("server")]
public sealed class ReleaseApiTests(ServerFixture server)
{
    [Fact]
    public async Task Post_TwoServicesOneAfterTheOther_RunsToSucceededWithItsTimeline()
    {
        using var admin = server.Admin(user: "alice");
        var api = Specs.Canary(Specs.NewService("rapi"), pausing: false);
        var web = Specs.Canary(Specs.NewService("rweb"), pausing: false);
        var body = Body("pair", (api, []), (web, [api.Service]));

        using var created = await admin.PostAsync("api/releases", body).Within(30);

        created.StatusCode.ShouldBe(HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var release = JsonSerializer.Deserialize<Release>(await created.Content.ReadAsStringAsync(), ClientJson.Options)!;
        created.Headers.Location!.ToString().ShouldBe($"/api/releases/{release.Id}");
        release.Members.Select(m => m.Service).ShouldBe([api.Service, web.Service]);
        var finished = await admin.WaitForReleaseFinishedAsync(release.Id, 120);
        finished.Phase.ShouldBe(ReleasePhase.Succeeded, finished.Reason);
        var apiDeployment = await admin.GetJsonAsync<Deployment>($"api/deployments/{finished.Member(api.Service)!.DeploymentId}");
        var webDeployment = await admin.GetJsonAsync<Deployment>($"api/deployments/{finished.Member(web.Service)!.DeploymentId}");
        webDeployment.CreatedAt.ShouldBeGreaterThanOrEqualTo(apiDeployment.FinishedAt!.Value, "web starts after api passed");
        var events = await admin.GetJsonAsync<List<DeploymentEvent>>($"api/releases/{release.Id}/events");
        events.Select(e => e.Type).ShouldBe(["Started", "ServiceStarted", "ServiceStarted", "Succeeded"]);
        events[0].Message.ShouldContain("requested by api:admin");
        (await admin.GetJsonAsync<List<Release>>("api/releases?limit=100")).ShouldContain(r => r.Id == release.Id);
        (await admin.GetJsonAsync<List<Release>>($"api/releases?deployment={webDeployment.Id}")).ShouldHaveSingleItem().Id.ShouldBe(release.Id);
        (await admin.GetJsonAsync<List<Release>>("api/releases?deployment=d-NOTINONE")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Post_BadReleases_Are400NamingTheKeyAndNothingIsRecorded()
    {
        using var admin = server.Admin();
        var a = Specs.Canary(Specs.NewService("ra"), pausing: false);
        var b = Specs.Canary(Specs.NewService("rb"), pausing: false);
        var cases = new (string What, object Body, string Says)[]
        {
            ("cycle", Body("cycle", (a, [b.Service]), (b, [a.Service])), "dependency cycle"),
            ("unknown dependency", Body("unknown", (a, ["nope"])), "unknown service 'nope'"),
            ("itself", Body("self", (a, [a.Service])), "cannot wait for itself"),
            ("twice", Body("twice", (a, []), (a, [])), "a release deploys each service once"),
            ("bad name", Body("Bad_Name", (a, [])), "release must be 1 to 63 lowercase"),
            ("no services", new { release = "empty", services = Array.Empty<object>() }, "services must list at least one service"),
            ("bad spec", Body("badspec", (a with { Platform = a.Platform with { Local = a.Platform.Local! with { Instances = -1 } } }, [])), "spec.platform.local.instances"),
        };
        var before = (await admin.GetJsonAsync<List<Release>>("api/releases?limit=10000")).Count;

        foreach (var (what, body, says) in cases)
        {
            using var response = await admin.PostAsync("api/releases", body).Within(30);
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, $"{what}: {text}");
            var problem = JsonDocument.Parse(text).RootElement;
            var said = problem.GetProperty("detail").GetString() + string.Join(" ", problem.TryGetProperty("errors", out var errors) ? errors.EnumerateArray().Select(e => e.ToString()) : []);
            said.ShouldContain(says, Case.Insensitive, what);
        }

        (await admin.GetJsonAsync<List<Release>>("api/releases?limit=10000")).Count.ShouldBe(before);
        (await server.Plane.GetServiceAsync(a.Service, CancellationToken.None)).ShouldBeNull("no revision and no service were recorded");
    }

    [Fact]
    public async Task Actions_UnknownReleaseIs404_ViewerIs403_ABodyWithFieldsIs400()
    {
        using var admin = server.Admin();
        using var viewer = server.Viewer();
        var a = Specs.Canary(Specs.NewService("rv"), pausing: false);

        (await admin.PostAsync("api/releases/rel-NOSUCHONE/rollback", null).Within(30)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await admin.GetAsync("api/releases/rel-NOSUCHONE").Within(30)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await viewer.PostAsync("api/releases", Body("viewer", (a, []))).Within(30)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        var release = await admin.PostJsonAsync<Release>("api/releases", Body("doors", (a, [])));
        (await admin.PostAsync($"api/releases/{release.Id}/stop", new { rollback = true }).Within(30)).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await admin.WaitForReleaseFinishedAsync(release.Id, 120)).Phase.ShouldBe(ReleasePhase.Succeeded);
        using var again = await admin.PostAsync($"api/releases/{release.Id}/stop", null).Within(30);
        again.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await again.Content.ReadAsStringAsync()).ShouldContain("only a release in progress or paused can be stopped");
    }

    private static JsonObject Body(string name, params (Core.Spec.ServiceSpec Spec, string[] DependsOn)[] services) => new()
    {
        ["release"] = name,
        ["services"] = new JsonArray([.. services.Select(s => (JsonNode)new JsonObject
        {
            ["spec"] = JsonSerializer.SerializeToNode(s.Spec, ClientJson.Options),
            ["env"] = new JsonObject { ["GREETING"] = "v1" },
            ["dependsOn"] = new JsonArray([.. s.DependsOn.Select(d => (JsonNode)JsonValue.Create(d))]),
        })]),
    };
}
