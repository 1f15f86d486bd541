using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Backstay.Core.Model;
using Backstay.Core.Releases;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace Backstay.Server.Tests;

/// <summary>
/// Coordinated releases on the dashboard, in a real headless Chromium against the real controller: a release whose
/// second service fails is red on the overview (not green because its rollbacks succeeded), its page lists its services
/// and its timeline with the failure marked, and the failed service's deployment links back to it.
/// </summary>
[Collection("server")]
public sealed class ReleaseDashboardTests(ServerFixture server) : IAsyncLifetime
{
    private const float Wait = 60_000;
    private IBrowserContext _context = null!;
    private IPage _page = null!;
    private readonly List<string> _consoleErrors = [];

    public async Task InitializeAsync()
    {
        var browser = await server.BrowserAsync();
        _context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } }).Within(30);
        _context.SetDefaultTimeout(Wait);
        _page = await _context.NewPageAsync().Within(30);
        _page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                _consoleErrors.Add(message.Text);
            }
        };
        _page.PageError += (_, error) => _consoleErrors.Add(error);
    }

    public async Task DisposeAsync() => await _context.CloseAsync().Within(30);

    [Fact]
    public async Task RolledBackRelease_IsAnIncidentOnTheOverview_ItsPageMarksTheFailure_AndTheDeploymentLinksToIt()
    {
        using var admin = server.Admin(user: "release-ci");
        var api = Specs.Canary(Specs.NewService("relapi"), pausing: false);
        var web = Specs.Canary(Specs.NewService("relweb"), pausing: false);
        // Both on r1 first, so the release moves each from r1 to r2 and its rollback has somewhere to go back to.
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(api, "v1"))).Id, 60, DeploymentState.Succeeded);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(web, "v1"))).Id, 60, DeploymentState.Succeeded);

        // web (after api) crashes at start: its deployment fails, and the release puts api back on r1.
        var body = new JsonObject
        {
            ["release"] = "checkout",
            ["services"] = new JsonArray(
                Member(api, new() { ["GREETING"] = "v2" }),
                Member(web, new() { ["GREETING"] = "v2", ["CRASH_AT_START"] = "true" }, api.Service)),
        };
        var started = await admin.PostJsonAsync<Release>("api/releases", body);
        var release = await admin.WaitForReleaseFinishedAsync(started.Id, 150);
        release.Phase.ShouldBe(ReleasePhase.RolledBack, release.Reason);
        release.FailedService.ShouldBe(web.Service);
        var failedDeployment = release.Member(web.Service)!.DeploymentId!;

        await LogInAsync("rita");

        // The overview: the release's row says RolledBack in the incident style, with both services and the reason.
        var row = _page.Locator($"[data-testid=release-row][data-release='{release.Id}']");
        await Assertions.Expect(row).ToBeVisibleAsync(new() { Timeout = Wait }).Within(70);
        var phase = row.Locator("[data-testid=release-phase]");
        await Assertions.Expect(phase).ToHaveTextAsync("RolledBack").Within(30);
        await Assertions.Expect(phase).ToHaveClassAsync(new Regex(@"\bbad\b")).Within(30);
        await Assertions.Expect(phase).Not.ToHaveClassAsync(new Regex(@"\bok\b")).Within(30);
        await Assertions.Expect(row).ToHaveClassAsync(new Regex(@"\bincident\b")).Within(30);
        await Assertions.Expect(row).ToContainTextAsync("checkout").Within(30);
        await Assertions.Expect(row.Locator($"[data-testid=release-member][data-member='{api.Service}']")).ToContainTextAsync("r1 → r2").Within(30);
        await Assertions.Expect(row.Locator($"[data-testid=release-member][data-member='{web.Service}']")).ToContainTextAsync("r1 → r2").Within(30);
        await Assertions.Expect(row.Locator("[data-testid=release-reason]")).ToContainTextAsync(web.Service + " failed").Within(30);
        await Assertions.Expect(row.Locator("[data-testid=time-to-restore]")).ToContainTextAsync("restored in").Within(30);
        var colours = await phase.EvaluateAsync<string>("e => getComputedStyle(e).color").Within(30);
        colours.ShouldBe("rgb(185, 28, 28)", "the rolled-back release's badge is in the incident red");
        await _page.ScreenshotAsync(new() { Path = Artifact("overview-release-rolled-back.png"), FullPage = true }).Within(30);
        var found = await AxeAsync("overview with a rolled-back release");

        // The release page: both services with links to their deployments, the reason, the timeline with the failure marked.
        await row.Locator($"a[href='#/releases/{release.Id}']").ClickAsync().Within(30);
        await Assertions.Expect(_page).ToHaveURLAsync(new Regex("#/releases/rel-"), new() { Timeout = Wait }).Within(70);
        var page = _page.Locator("[data-testid=release]");
        await Assertions.Expect(page.Locator("[data-testid=release-phase]")).ToHaveTextAsync("RolledBack", new() { Timeout = Wait }).Within(70);
        var members = _page.Locator("[data-testid=release-members] [data-testid=release-member]");
        await Assertions.Expect(members).ToHaveCountAsync(2).Within(30);
        await Assertions.Expect(members.Nth(0)).ToContainTextAsync(api.Service).Within(30);
        await Assertions.Expect(members.Nth(1)).ToContainTextAsync(web.Service).Within(30);
        var webRow = _page.Locator($"[data-testid=release-members] [data-member='{web.Service}']");
        await Assertions.Expect(webRow.Locator("[data-testid=member-deployment]")).ToHaveAttributeAsync("href", $"#/deployments/{failedDeployment}").Within(30);
        await Assertions.Expect(webRow.Locator("[data-testid=member-failed]")).ToBeVisibleAsync().Within(30);
        await Assertions.Expect(webRow).ToHaveClassAsync(new Regex(@"\bincident\b")).Within(30);
        await Assertions.Expect(webRow.Locator("[data-testid=state]")).ToHaveTextAsync(release.Member(web.Service)!.State.ToString()).Within(30);
        await Assertions.Expect(page.Locator("[data-testid=release-reason]")).ToContainTextAsync(release.Reason!).Within(30);
        var failure = _page.Locator("[data-testid=release-event][data-type=ServiceFailed]");
        await Assertions.Expect(failure).ToBeVisibleAsync().Within(30);
        await Assertions.Expect(failure).ToHaveAttributeAsync("data-failure", "true").Within(30);
        await Assertions.Expect(failure.Locator("[data-testid=failure-mark]")).ToBeVisibleAsync().Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=release-event][data-type=RolledBack]")).ToBeVisibleAsync().Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("release-rolled-back.png"), FullPage = true }).Within(30);
        found.AddRange(await AxeAsync("release page"));

        // The release page refreshes (a finished release every 5 s): focus on a member's link stays on it.
        var link = webRow.Locator("[data-testid=member-deployment]");
        await link.FocusAsync().Within(30);
        await link.EvaluateAsync("e => { e.dataset.old = '1'; }").Within(30);
        await Assertions.Expect(link).Not.ToHaveAttributeAsync("data-old", "1", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(link).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);

        // The failed service's deployment says which release it was part of, and links back to it.
        await link.ClickAsync().Within(30);
        var part = _page.Locator("[data-testid=deployment-release]");
        await Assertions.Expect(part).ToContainTextAsync($"part of release checkout ({release.Id})", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(part.Locator("a")).ToHaveAttributeAsync("href", $"#/releases/{release.Id}").Within(30);
        found.AddRange(await AxeAsync("deployment page of a release"));

        // The releases route lists it too.
        await _page.GotoAsync($"{server.BaseUrl}#/releases").Within(30);
        await Assertions.Expect(_page.Locator($"[data-testid=release-row][data-release='{release.Id}'] [data-testid=release-phase]")).ToHaveTextAsync("RolledBack", new() { Timeout = Wait }).Within(70);

        found.ShouldBeEmpty("axe found serious or critical violations:\n" + string.Join("\n", found));
        _consoleErrors.ShouldBeEmpty();
    }

    private static JsonObject Member(Core.Spec.ServiceSpec spec, Dictionary<string, string> env, params string[] dependsOn) => new()
    {
        ["spec"] = JsonSerializer.SerializeToNode(spec, ClientJson.Options),
        ["env"] = JsonSerializer.SerializeToNode(env, ClientJson.Options),
        ["dependsOn"] = new JsonArray([.. dependsOn.Select(d => (JsonNode)JsonValue.Create(d))]),
    };

    /// <summary>Logs in with a new operator token; the names differ from DashboardTests' (same server, unique token names).</summary>
    private async Task LogInAsync(string user)
    {
        using var admin = server.Admin();
        var created = await admin.PostJsonAsync<JsonElement>("api/tokens", new { name = user, role = "operator" });
        var token = created.GetProperty("token").GetString()!;
        await _page.GotoAsync(server.BaseUrl + "login").Within(70);
        await _page.FillAsync("#token", token).Within(70);
        await _page.ClickAsync("#submit").Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=live]")).ToHaveAttributeAsync("data-state", "live", new() { Timeout = Wait }).Within(70);
        _page.Url.ShouldBe(server.BaseUrl.ToString());
    }

    /// <summary>Runs axe-core on the page as it is; returns one line per serious or critical violation and element.</summary>
    private async Task<List<string>> AxeAsync(string where)
    {
        var results = await _page.RunAxe().Within(120);
        return results.Violations
            .Where(v => v.Impact is "serious" or "critical")
            .SelectMany(v => v.Nodes.Select(n => $"{where}: {v.Id} ({v.Impact}) {v.Help}: {n.Target} {n.Html}"))
            .ToList();
    }

    private static string Artifact(string name) => Path.Combine(ServerFixture.ArtifactsDirectory, name);
}
