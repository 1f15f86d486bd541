using System.Text.Json;
using Backstay.Core.Model;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace Backstay.Server.Tests;

/// <summary>The dashboard in a real headless Chromium against the real controller: log in, watch, act.</summary>
[Collection("server")]
public sealed class DashboardTests(ServerFixture server) : IAsyncLifetime
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
    public async Task Login_SetsASecureHttpOnlyCookie_AndADeploymentAppearsAndProgressesLive()
    {
        await _page.GotoAsync(server.BaseUrl.ToString()).Within(30);
        _page.Url.ShouldEndWith("/login");
        await _page.FillAsync("#token", "not-the-token").Within(30);
        await _page.ClickAsync("#submit").Within(30);
        await Assertions.Expect(_page.Locator("#error")).ToContainTextAsync("not a token").Within(30);
        _consoleErrors.Clear(); // the refused login's 401

        await LogInAsync("carol");
        var cookie = (await _context.CookiesAsync().Within(10)).Single(c => c.Name == "backstay_session");
        cookie.HttpOnly.ShouldBeTrue();
        cookie.Secure.ShouldBeTrue();
        cookie.SameSite.ShouldBe(SameSiteAttribute.Strict);
        (await _page.EvaluateAsync<bool>("() => document.cookie.includes('backstay_session')").Within(10)).ShouldBeFalse();
        await _page.EvaluateAsync("() => { window.__notReloaded = true; }").Within(10);

        using var admin = server.Admin(user: "ci");
        var spec = Specs.Canary(Specs.NewService("live"), pausing: true);
        var first = await admin.DeployAsync(Specs.Request(spec, "v1"));
        var row = _page.Locator($"[data-testid=service-row][data-service='{spec.Service}']");
        await Assertions.Expect(row).ToBeVisibleAsync(new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(row.Locator("[data-testid=release-state]")).ToHaveTextAsync("r1 succeeded", new() { Timeout = Wait }).Within(70);
        (await admin.GetJsonAsync<Deployment>($"api/deployments/{first.Id}")).State.ShouldBe(DeploymentState.Succeeded);

        var second = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await Assertions.Expect(row.Locator("[data-testid=in-progress]")).ToContainTextAsync(second.Id, new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(row.Locator("[data-testid=in-progress]")).ToContainTextAsync("Paused", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(row.Locator("[data-testid=traffic]")).ToBeVisibleAsync().Within(70);
        await _page.ScreenshotAsync(new() { Path = Artifact("overview-paused.png"), FullPage = true }).Within(30);

        await _page.ClickAsync($"[data-testid=in-progress] a:text('{second.Id}')").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Paused", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=event-row][data-type=Paused]")).ToBeVisibleAsync().Within(70);
        await admin.PostJsonAsync<Deployment>($"api/deployments/{second.Id}/stop", new { rollback = true });
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("RolledBack", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=event-row][data-type=RollingBack]")).ToBeVisibleAsync().Within(70);

        (await _page.EvaluateAsync<bool>("() => window.__notReloaded === true").Within(10)).ShouldBeTrue("the page was reloaded");
        (await _page.GetAttributeAsync("[data-testid=live]", "data-state").Within(10)).ShouldBe("live");
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task PausedDeployment_IsContinuedFromThePage_WithConfirmation()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("pause"), pausing: true);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var paused = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await admin.WaitForAsync(paused.Id, 60, DeploymentState.Paused);

        await LogInAsync("dave");
        await _page.GotoAsync($"{server.BaseUrl}#/deployments/{paused.Id}").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Paused").Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=step].current")).ToContainTextAsync("pause until continued").Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=chart-errors]")).ToBeVisibleAsync().Within(70);
        await TrafficLoad.SendAsync(spec, TimeSpan.FromSeconds(4));
        // Fewer requests than the 1,000 the spec's analysis needs: it says so rather than passing or saying nothing.
        await Assertions.Expect(_page.Locator("[data-testid=deployment] [data-testid=analysis]")).ToContainTextAsync("r2 analysis:", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=deployment] [data-testid=analysis-verdict]")).ToHaveTextAsync("Judging").Within(70);
        await _page.ScreenshotAsync(new() { Path = Artifact("deployment-paused.png"), FullPage = true }).Within(30);

        // Cancelling the confirmation does nothing.
        await _page.ClickAsync("[data-testid=action-continue]").Within(30);
        await Assertions.Expect(_page.Locator("#confirm")).ToBeVisibleAsync().Within(30);
        await _page.ClickAsync("#confirm-cancel").Within(30);
        await Assertions.Expect(_page.Locator("#confirm")).ToBeHiddenAsync().Within(30);
        await Task.Delay(500);
        (await admin.GetJsonAsync<Deployment>($"api/deployments/{paused.Id}")).State.ShouldBe(DeploymentState.Paused);

        await _page.ClickAsync("[data-testid=action-continue]").Within(30);
        await Assertions.Expect(_page.Locator("#confirm-title")).ToContainTextAsync(paused.Id).Within(30);
        await _page.ClickAsync("#confirm-ok").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Succeeded", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=event-row][data-type=ContinueRequested]")).ToContainTextAsync("api:dave").Within(70);
        await _page.ScreenshotAsync(new() { Path = Artifact("deployment-continued.png"), FullPage = true }).Within(30);

        var done = await admin.GetJsonAsync<Deployment>($"api/deployments/{paused.Id}");
        done.State.ShouldBe(DeploymentState.Succeeded);
        done.TargetWeight.ShouldBe(100);
        _consoleErrors.ShouldBeEmpty();
    }

    /// <summary>Every instance of r2 passes its health checks while r2 fails 30% of its requests: the overview says both.</summary>
    [Fact]
    public async Task Overview_CanaryFailingItsRequestsWhileHealthy_ShowsTheFailingAnalysisBesideHealth()
    {
        using var admin = server.Admin();
        var canary = Specs.Canary(Specs.NewService("verdict"), pausing: true);
        // A p99 limit (not a sequential test) judged from 20 requests, and 100 failed looks in a row before a rollback: the
        // failing verdict stays on screen.
        var spec = canary with { Analysis = canary.Analysis with { MinRequests = 20, ConsecutiveFailures = 100, MaxLatencyP99 = TimeSpan.FromMilliseconds(60) } };
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var bad = await admin.DeployAsync(Specs.Request(spec, "v2") with { Env = new Dictionary<string, string> { ["GREETING"] = "v2", ["LATENCY_MS"] = "150" } });
        await admin.WaitForAsync(bad.Id, 60, DeploymentState.Paused);

        await LogInAsync("quentin");
        var row = _page.Locator($"[data-testid=service-row][data-service='{spec.Service}']");
        await Assertions.Expect(row.Locator("[data-testid=stable]")).ToHaveTextAsync("r1").Within(70);
        using var load = new CancellationTokenSource();
        var loading = TrafficLoad.SendAsync(spec, TimeSpan.FromSeconds(60), load.Token);
        try
        {
            await Assertions.Expect(row.Locator("[data-testid=analysis-verdict]")).ToHaveTextAsync("Failing", new() { Timeout = Wait }).Within(70);
            await Assertions.Expect(row.Locator("[data-testid=analysis]")).ToContainTextAsync("r2 analysis: p99 latency").Within(70);
            await Assertions.Expect(row.Locator("[data-testid=analysis]")).ToContainTextAsync("is above the limit of 60 ms").Within(70);
            await Assertions.Expect(row.Locator("[data-testid=analysis]")).ToContainTextAsync("of 100 failed looks in a row roll back").Within(70);
            await Assertions.Expect(row).ToContainTextAsync("r2: 1/1 healthy").Within(70);
            await _page.ScreenshotAsync(new() { Path = Artifact("overview-analysis-failing.png"), FullPage = true }).Within(30);

            var analysis = (await admin.GetJsonAsync<List<JsonElement>>("api/overview")).Single(s => s.GetProperty("service").GetProperty("name").GetString() == spec.Service)
                .GetProperty("activeDeployment").GetProperty("progress").GetProperty("analysis");
            analysis.GetProperty("verdict").GetString().ShouldBe("Fail");
            analysis.GetProperty("failuresToRollBack").GetInt32().ShouldBe(100);
            var p99 = analysis.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("metric").GetString() == "latencyP99");
            p99.GetProperty("verdict").GetString().ShouldBe("Fail");
            p99.GetProperty("statistic").GetDouble().ShouldBeGreaterThan(60);
            p99.GetProperty("target").GetProperty("requests").GetInt64().ShouldBeGreaterThanOrEqualTo(20);

            // The deployment page shows the numbers behind the verdict, check by check.
            await _page.GotoAsync($"{server.BaseUrl}#/deployments/{bad.Id}").Within(30);
            var evidence = _page.Locator("[data-testid=analysis-evidence]");
            await Assertions.Expect(evidence).ToHaveAttributeAsync("data-verdict", "Fail", new() { Timeout = Wait }).Within(70);
            var check = evidence.Locator("[data-testid=analysis-check][data-metric=latencyP99]");
            await Assertions.Expect(check).ToContainTextAsync("percentile limit: p99 (ms)").Within(30);
            await Assertions.Expect(check).ToContainTextAsync("max 60 ms").Within(30);
            await Assertions.Expect(evidence.Locator("[data-testid=analysis-check][data-metric=errorRate]")).ToContainTextAsync("always-valid sequential binomial test").Within(30);
            await _page.ScreenshotAsync(new() { Path = Artifact("deployment-analysis-evidence.png"), FullPage = true }).Within(30);
        }
        finally
        {
            await load.CancelAsync();
            await loading;
        }

        await admin.PostJsonAsync<Deployment>($"api/deployments/{bad.Id}/stop", new { rollback = true });
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task Rollback_FromTheServicesContextMenu_RestoresThePreviousRevision()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("ctx"), pausing: false);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v2"))).Id, 60, DeploymentState.Succeeded);
        (await admin.GetJsonAsync<ServiceRecord>($"api/services/{spec.Service}")).StableRevision.ShouldBe(2);

        await LogInAsync("erin");
        var row = _page.Locator($"[data-testid=service-row][data-service='{spec.Service}']");
        await Assertions.Expect(row.Locator("[data-testid=stable]")).ToHaveTextAsync("r2").Within(70);
        await row.Locator("td").First.ClickAsync(new() { Button = MouseButton.Right }).Within(30);
        await Assertions.Expect(_page.Locator("#menu [data-testid=menu-rollback]")).ToBeVisibleAsync().Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("context-menu.png") }).Within(30);
        await _page.ClickAsync("#menu [data-testid=menu-rollback]").Within(30);

        await Assertions.Expect(_page.Locator("#confirm")).ToBeVisibleAsync().Within(30);
        await _page.SelectOptionAsync("[data-testid=rollback-revision]", "1").Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("rollback-confirm.png") }).Within(30);
        await _page.ClickAsync("#confirm-ok").Within(30);

        // The page moves to the rollback by changing its hash: poll the address rather than wait for a navigation event.
        await Assertions.Expect(_page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("#/deployments/d-"), new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Succeeded", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=requested-by]")).ToHaveTextAsync("api:erin").Within(30);
        (await admin.GetJsonAsync<ServiceRecord>($"api/services/{spec.Service}")).StableRevision.ShouldBe(1);

        // The rollback succeeded, the release r2 did not stay: the overview shows it as an incident, not as a success.
        await _page.GotoAsync($"{server.BaseUrl}#/").Within(30);
        await Assertions.Expect(row.Locator("[data-testid=release-state]")).ToHaveTextAsync("r2 rolled back", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(row).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("incident")).Within(30);
        await Assertions.Expect(row.Locator("[data-testid=release]")).ToContainTextAsync("manual rollback to revision 1 requested by api:erin").Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("overview-after-rollback.png"), FullPage = true }).Within(30);

        // A person acknowledges it from the row's menu: still "rolled back", no longer an open incident, under their name.
        await row.Locator("td").First.ClickAsync(new() { Button = MouseButton.Right }).Within(30);
        await _page.ClickAsync("#menu [data-testid=menu-acknowledge]").Within(30);
        await Assertions.Expect(_page.Locator("#confirm")).ToBeVisibleAsync().Within(30);
        await _page.FillAsync("[data-testid=acknowledge-note]", "INC-7, bad config").Within(30);
        await _page.ClickAsync("#confirm-ok").Within(30);
        await Assertions.Expect(row.Locator("[data-testid=acknowledged]")).ToContainTextAsync("acknowledged by api:erin", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(row.Locator("[data-testid=acknowledged]")).ToContainTextAsync("INC-7, bad config").Within(30);
        await Assertions.Expect(row).Not.ToHaveClassAsync(new System.Text.RegularExpressions.Regex("incident")).Within(30);
        await Assertions.Expect(row.Locator("[data-testid=release-state]")).ToHaveTextAsync("r2 rolled back").Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("overview-acknowledged.png"), FullPage = true }).Within(30);

        await _page.GotoAsync($"{server.BaseUrl}#/services/{spec.Service}").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=revision-row][data-revision='1']")).ToContainTextAsync("stable").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=revision-row][data-revision='1']")).ToContainTextAsync("sha256:").Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("service-revisions.png"), FullPage = true }).Within(30);
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task FinishedDeployment_ShowsWhatItEndedWithLabelledSo_AndWhatThePlatformServesNowWithItsAge()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("now"), pausing: false);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var release = await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v2"))).Id, 60, DeploymentState.Succeeded);
        var rollback = await admin.PostJsonAsync<Deployment>($"api/services/{spec.Service}/rollback", new { toRevision = 1 });
        await admin.WaitForAsync(rollback.Id, 60, DeploymentState.Succeeded);

        // r2's page: it ended with all traffic on r2 (labelled as such); the platform now serves r1 only, and says how old that read is.
        await LogInAsync("heidi");
        await _page.GotoAsync($"{server.BaseUrl}#/deployments/{release.Id}").Within(30);
        await Assertions.Expect(_page.Locator("dt", new() { HasText = "Traffic when it ended" })).ToBeVisibleAsync(new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=recorded-traffic]")).ToContainTextAsync("r2 100%").Within(30);
        var now = _page.Locator("[data-testid=observed]");
        await Assertions.Expect(now.Locator(".legend")).ToHaveTextAsync("r1 100%", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(now.Locator("[data-testid=observed-instances]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^r1: \d+/\d+ healthy$"), new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(now.Locator("[data-testid=observed-age]")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"read from the platform \d+ s ago")).Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("deployment-finished-now.png"), FullPage = true }).Within(30);

        // The rollback's page keeps the colours' meaning: r1, where it goes back to, is the stable side of the bar.
        await _page.GotoAsync($"{server.BaseUrl}#/deployments/{rollback.Id}").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=recorded-traffic] .legend")).ToHaveTextAsync("r1 100%", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=recorded-traffic] .split .s")).ToHaveAttributeAsync("style", new System.Text.RegularExpressions.Regex("width: 100%")).Within(30);

        // The service page reads the platform too.
        await _page.GotoAsync($"{server.BaseUrl}#/services/{spec.Service}").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=observed] .legend")).ToHaveTextAsync("r1 100%", new() { Timeout = Wait }).Within(70);
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task ViewerLogin_SeesEverythingButCannotAct()
    {
        await _page.GotoAsync(server.BaseUrl + "login").Within(30);
        await _page.FillAsync("#token", server.ViewerToken).Within(30);
        await _page.ClickAsync("#submit").Within(30);
        await Assertions.Expect(_page.Locator("#who")).ToContainTextAsync("viewer").Within(30);

        // Even a request forged by the page's own script with the viewer's cookie is refused.
        var status = await _page.EvaluateAsync<int>("async () => (await fetch('/api/services/x/rollback', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status").Within(30);
        status.ShouldBe(403);
    }

    [Fact]
    public async Task Login_CookieIsASessionNotTheToken_AndLogoutEndsIt()
    {
        await _page.GotoAsync(server.BaseUrl + "login").Within(70);
        await _page.FillAsync("#token", server.AdminToken).Within(70);
        await _page.ClickAsync("#submit").Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=live]")).ToHaveAttributeAsync("data-state", "live", new() { Timeout = Wait }).Within(70);
        var cookie = (await _context.CookiesAsync().Within(10)).Single(c => c.Name == "backstay_session");
        cookie.Value.ShouldNotBe(server.AdminToken);
        cookie.Value.ShouldNotContain(server.AdminToken);
        cookie.Value.Length.ShouldBeGreaterThanOrEqualTo(40);

        using var http = new HttpClient { BaseAddress = server.BaseUrl, Timeout = TimeSpan.FromSeconds(10) };
        async Task<int> ReadWithCookieAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("api/whoami", UriKind.Relative));
            request.Headers.Add("Cookie", $"backstay_session={cookie.Value}");
            using var response = await http.SendAsync(request).Within(10);
            return (int)response.StatusCode;
        }

        (await ReadWithCookieAsync()).ShouldBe(200);
        await _page.ClickAsync("#logout").Within(30);
        await Assertions.Expect(_page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/login$"), new() { Timeout = Wait }).Within(70);

        // The copy of the cookie kept above is dead too: the controller ended the session, not just the browser's cookie.
        (await ReadWithCookieAsync()).ShouldBe(401);
    }

    [Fact]
    public async Task CookieWrite_FromAnotherOrigin_IsRefused()
    {
        await LogInAsync("frank");
        var cookie = (await _context.CookiesAsync().Within(10)).Single(c => c.Name == "backstay_session");
        using var http = new HttpClient { BaseAddress = server.BaseUrl, Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("api/services/x/rollback", UriKind.Relative))
        {
            Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Cookie", $"backstay_session={cookie.Value}");
        request.Headers.Add("Origin", "https://attacker.example");
        using var response = await http.SendAsync(request).Within(10);
        ((int)response.StatusCode).ShouldBe(403);
        (await response.Content.ReadAsStringAsync()).ShouldContain("Origin");
    }

    [Fact]
    public async Task Overview_WhenBackstayStopsAnswering_KeepsWhatItLastShowedWithItsAge_AndRecovers()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("stale"), pausing: false);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        await LogInAsync("grace");
        var row = _page.Locator($"[data-testid=service-row][data-service='{spec.Service}']");
        await Assertions.Expect(row).ToBeVisibleAsync(new() { Timeout = Wait }).Within(70);

        // Every API call fails as it does when serve is killed: no answer at all.
        await _page.RouteAsync("**/api/**", route => route.AbortAsync("connectionrefused")).Within(30);
        var banner = _page.Locator("[data-testid=stale-banner]");
        await Assertions.Expect(banner).ToBeVisibleAsync(new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(banner).ToContainTextAsync("Backstay is not answering").Within(30);
        await Assertions.Expect(row).ToBeVisibleAsync().Within(30);
        (await _page.Locator("[data-testid=error]").CountAsync().Within(10)).ShouldBe(0, "the page keeps what it showed");
        await _page.ScreenshotAsync(new() { Path = Artifact("overview-stale.png"), FullPage = true }).Within(30);

        await _page.UnrouteAllAsync().Within(30);
        await Assertions.Expect(banner).ToBeHiddenAsync(new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(row).ToBeVisibleAsync().Within(30);
        _consoleErrors.RemoveAll(e => e.Contains("net::ERR_CONNECTION_REFUSED", StringComparison.Ordinal) || e.Contains("Failed to load resource", StringComparison.Ordinal));
        _consoleErrors.ShouldBeEmpty();
    }

    /// <summary>Token names taken by this class's tests, which share one server: a name used twice fails the second test.</summary>
    private static readonly HashSet<string> TakenNames = [];

    /// <summary>Logs in with a new operator token named <paramref name="user"/>, which the history then records.</summary>

    private async Task LogInAsync(string user)
    {
        lock (TakenNames)
        {
            // Caught here, whatever order the tests run in, rather than as a 400 from api/tokens when they happen to run in this order.
            TakenNames.Add(user).ShouldBeTrue($"the token name '{user}' is used by another dashboard test on the same server; give this test a name of its own");
        }

        using var admin = server.Admin();
        var created = await admin.PostJsonAsync<System.Text.Json.JsonElement>("api/tokens", new { name = user, role = "operator" });
        var token = created.GetProperty("token").GetString()!;
        if (!_page.Url.EndsWith("/login", StringComparison.Ordinal))
        {
            await _page.GotoAsync(server.BaseUrl + "login").Within(70);
        }

        // A cold Chromium on a busy 2-core machine can take tens of seconds for its first page.
        await _page.FillAsync("#token", token).Within(70);
        await _page.ClickAsync("#submit").Within(70);
        // The login page navigates by script once the cookie is set; waiting for a navigation event can miss one that
        // already happened, so wait (polling, across navigations) for the dashboard's live marker instead.
        await Assertions.Expect(_page.Locator("[data-testid=live]")).ToHaveAttributeAsync("data-state", "live", new() { Timeout = Wait }).Within(70);
        _page.Url.ShouldBe(server.BaseUrl.ToString());
    }

    [Fact]
    public async Task LiveRefresh_KeepsFocusOnTheSameElement_AndDoesNotStealIt()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("focus"), pausing: true);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        await LogInAsync("ivan");
        var row = _page.Locator($"[data-testid=service-row][data-service='{spec.Service}']");
        await Assertions.Expect(row.Locator("[data-testid=release-state]")).ToHaveTextAsync("r1 succeeded", new() { Timeout = Wait }).Within(70);

        // The service's link has focus while a deployment makes the overview re-render: the link is a new element then,
        // and focus must be on it, not on the page's body.
        var link = row.Locator($"a[href='#/services/{spec.Service}']");
        await link.FocusAsync().Within(30);
        await MarkAsync(link);
        var paused = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await Assertions.Expect(row.Locator("[data-testid=in-progress]")).ToContainTextAsync(paused.Id, new() { Timeout = Wait }).Within(70);
        await WaitReplacedAsync(link);
        await Assertions.Expect(link).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);

        // The open deployment re-renders every second while it is active: its Stop button keeps focus.
        await admin.WaitForAsync(paused.Id, 60, DeploymentState.Paused);
        await _page.GotoAsync($"{server.BaseUrl}#/deployments/{paused.Id}").Within(30);
        var stop = _page.Locator("[data-testid=action-stop]");
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Paused", new() { Timeout = Wait }).Within(70);
        await stop.FocusAsync().Within(30);
        await MarkAsync(stop);
        await WaitReplacedAsync(stop);
        await Assertions.Expect(stop).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);

        // A re-render does not take focus that was elsewhere (here: the header's Log out button stays focused).
        var logout = _page.Locator("#logout");
        await logout.FocusAsync().Within(30);
        await MarkAsync(stop);
        await WaitReplacedAsync(stop);
        await Assertions.Expect(logout).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);

        await admin.PostJsonAsync<Deployment>($"api/deployments/{paused.Id}/stop", new { rollback = true });
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task ContextMenu_IsAMenuButton_OperableWithTheKeyboard()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("keys"), pausing: false);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v2"))).Id, 60, DeploymentState.Succeeded);
        await LogInAsync("judy");
        var row = _page.Locator($"[data-testid=service-row][data-service='{spec.Service}']");
        await Assertions.Expect(row.Locator("[data-testid=release-state]")).ToHaveTextAsync("r2 succeeded", new() { Timeout = Wait }).Within(70);

        var button = row.Locator("[data-testid=row-actions]");
        var menu = _page.Locator("#menu");
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-haspopup", "menu").Within(30);
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-expanded", "false").Within(30);
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-controls", "menu").Within(30);
        await button.FocusAsync().Within(30);

        // ArrowDown opens the menu on its first item; arrows, Home and End move (wrapping); Escape closes it onto the button.
        await PressAsync("ArrowDown");
        await Assertions.Expect(menu).ToBeVisibleAsync().Within(30);
        await Assertions.Expect(menu).ToHaveAttributeAsync("role", "menu").Within(30);
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-expanded", "true").Within(30);
        var items = await menu.Locator("[role=menuitem]").EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.testid)").Within(30);
        items.ShouldBe(["menu-open", "menu-continue", "menu-stop", "menu-rollback", "menu-acknowledge", "menu-reset"]);
        await ExpectFocusedAsync("#menu [data-testid=menu-open]");
        await _page.ScreenshotAsync(new() { Path = Artifact("context-menu-keyboard.png") }).Within(30);
        await PressAsync("ArrowDown");
        await ExpectFocusedAsync("#menu [data-testid=menu-continue]");
        await PressAsync("End");
        await ExpectFocusedAsync("#menu [data-testid=menu-reset]");
        await PressAsync("ArrowDown");
        await ExpectFocusedAsync("#menu [data-testid=menu-open]");
        await PressAsync("ArrowUp");
        await ExpectFocusedAsync("#menu [data-testid=menu-reset]");
        await PressAsync("Home");
        await ExpectFocusedAsync("#menu [data-testid=menu-open]");
        await PressAsync("Escape");
        await Assertions.Expect(menu).ToBeHiddenAsync().Within(30);
        await Assertions.Expect(button).ToBeFocusedAsync().Within(30);
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-expanded", "false").Within(30);

        // Enter and Space open it too; Tab closes it.
        await PressAsync("Enter");
        await ExpectFocusedAsync("#menu [data-testid=menu-open]");
        await PressAsync("Tab");
        await Assertions.Expect(menu).ToBeHiddenAsync().Within(30);
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-expanded", "false").Within(30);
        await button.FocusAsync().Within(30);
        await PressAsync(" ");
        await ExpectFocusedAsync("#menu [data-testid=menu-open]");

        // A disabled item can be reached but does nothing; an enabled one is taken with Enter: the rollback dialog opens
        // on Cancel, and Escape cancels it and puts focus back on the row's button.
        await PressAsync("ArrowDown");
        await Assertions.Expect(_page.Locator("#menu [data-testid=menu-continue]")).ToHaveAttributeAsync("aria-disabled", "true").Within(30);
        await PressAsync("Enter");
        await Assertions.Expect(menu).ToBeVisibleAsync().Within(30);
        await PressAsync("ArrowDown");
        await PressAsync("ArrowDown");
        await ExpectFocusedAsync("#menu [data-testid=menu-rollback]");
        await PressAsync("Enter");
        await Assertions.Expect(_page.Locator("#confirm")).ToBeVisibleAsync().Within(30);
        await ExpectFocusedAsync("#confirm-cancel");
        await PressAsync("Escape");
        await Assertions.Expect(_page.Locator("#confirm")).ToBeHiddenAsync().Within(30);
        await Assertions.Expect(button).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);
        (await admin.GetJsonAsync<List<Deployment>>($"api/services/{spec.Service}/deployments")).Count.ShouldBe(2, "nothing was rolled back");

        // The recent deployments have a menu button each too.
        var recent = _page.Locator("[data-testid=deployment-row] [data-testid=row-actions]").First;
        await recent.FocusAsync().Within(30);
        await PressAsync("ArrowDown");
        await ExpectFocusedAsync("#menu [data-testid=menu-open]");
        await PressAsync("Escape");
        await Assertions.Expect(recent).ToBeFocusedAsync().Within(30);
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task RollbackDialog_OpensOnCancel_EnterCancels_FocusStaysInside_AndReturnsToTheButton()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("dialog"), pausing: false);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v2"))).Id, 60, DeploymentState.Succeeded);
        await LogInAsync("mallory");
        await _page.GotoAsync($"{server.BaseUrl}#/services/{spec.Service}").Within(30);
        var button = _page.Locator("[data-testid=action-rollback]");
        await Assertions.Expect(button).ToBeEnabledAsync(new() { Timeout = Wait }).Within(70);
        var dialog = _page.Locator("#confirm");

        // Enter right after the dialog opened answers Cancel: the red button does not have focus.
        await button.FocusAsync().Within(30);
        await PressAsync("Enter");
        await Assertions.Expect(dialog).ToBeVisibleAsync().Within(30);
        await ExpectFocusedAsync("#confirm-cancel");
        await _page.ScreenshotAsync(new() { Path = Artifact("rollback-confirm-keyboard.png") }).Within(30);
        await PressAsync("Enter");
        await Assertions.Expect(dialog).ToBeHiddenAsync().Within(30);
        await Assertions.Expect(button).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);
        await Task.Delay(1000);
        var deployments = await admin.GetJsonAsync<List<Deployment>>($"api/services/{spec.Service}/deployments");
        deployments.ShouldNotContain(d => d.Kind == DeploymentKind.Rollback, "Enter cancelled: no rollback was recorded");
        (await admin.GetJsonAsync<ServiceRecord>($"api/services/{spec.Service}")).StableRevision.ShouldBe(2);

        // Tab and Shift+Tab go round the dialog's own controls; Escape cancels and focus goes back to the button.
        await PressAsync("Enter");
        await Assertions.Expect(dialog).ToBeVisibleAsync().Within(30);
        await ExpectFocusedAsync("#confirm-cancel");
        await PressAsync("Tab");
        await ExpectFocusedAsync("#confirm-ok");
        await PressAsync("Tab");
        await ExpectFocusedAsync("[data-testid=rollback-revision]");
        await PressAsync("Shift+Tab");
        await ExpectFocusedAsync("#confirm-ok");
        await PressAsync("Escape");
        await Assertions.Expect(dialog).ToBeHiddenAsync().Within(30);
        await Assertions.Expect(button).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);
        (await admin.GetJsonAsync<List<Deployment>>($"api/services/{spec.Service}/deployments")).ShouldNotContain(d => d.Kind == DeploymentKind.Rollback);
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task Axe_FindsNoSeriousOrCriticalViolation_OnAnyPage_WithTheMenuAndTheDialogOpen()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("axe"), pausing: true);
        var finished = await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var paused = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await admin.WaitForAsync(paused.Id, 60, DeploymentState.Paused);

        await _page.GotoAsync(server.BaseUrl + "login").Within(70);
        await Assertions.Expect(_page.Locator("#token")).ToBeVisibleAsync(new() { Timeout = Wait }).Within(70);
        var found = new List<string>();
        found.AddRange(await AxeAsync("login page"));

        await LogInAsync("niaj");
        var row = _page.Locator($"[data-testid=service-row][data-service='{spec.Service}']");
        await Assertions.Expect(row.Locator("[data-testid=in-progress]")).ToContainTextAsync("Paused", new() { Timeout = Wait }).Within(70);
        found.AddRange(await AxeAsync("overview"));

        await row.Locator("td").First.ClickAsync(new() { Button = MouseButton.Right }).Within(30);
        await Assertions.Expect(_page.Locator("#menu")).ToBeVisibleAsync().Within(30);
        found.AddRange(await AxeAsync("overview with the context menu open"));
        await _page.Keyboard.PressAsync("Escape").Within(30);

        await _page.GotoAsync($"{server.BaseUrl}#/services/{spec.Service}").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=revision-row]")).ToHaveCountAsync(2, new() { Timeout = Wait }).Within(70);
        found.AddRange(await AxeAsync("service page"));

        await _page.GotoAsync($"{server.BaseUrl}#/deployments/{finished.Id}").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Succeeded", new() { Timeout = Wait }).Within(70);
        found.AddRange(await AxeAsync("finished deployment page"));

        await _page.GotoAsync($"{server.BaseUrl}#/deployments/{paused.Id}").Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Paused", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=step].current")).ToContainTextAsync("Paused").Within(70);
        found.AddRange(await AxeAsync("paused deployment page"));

        await _page.ClickAsync("[data-testid=action-stop-rollback]").Within(30);
        await Assertions.Expect(_page.Locator("#confirm")).ToBeVisibleAsync().Within(30);
        found.AddRange(await AxeAsync("paused deployment page with the confirm dialog open"));
        await _page.ScreenshotAsync(new() { Path = Artifact("stop-confirm.png") }).Within(30);
        await _page.Keyboard.PressAsync("Escape").Within(30);
        await Assertions.Expect(_page.Locator("#confirm")).ToBeHiddenAsync().Within(30);

        await admin.PostJsonAsync<Deployment>($"api/deployments/{paused.Id}/stop", new { rollback = true });
        found.ShouldBeEmpty("axe found serious or critical violations:\n" + string.Join("\n", found));
        _consoleErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task SeriesCharts_ComeBackAfterAReload_WithBothRevisions_AndMarkTheRollback()
    {
        using var admin = server.Admin();
        var spec = Specs.Canary(Specs.NewService("charts"), pausing: true);
        await admin.WaitForAsync((await admin.DeployAsync(Specs.Request(spec, "v1"))).Id, 60, DeploymentState.Succeeded);
        var canary = await admin.DeployAsync(Specs.Request(spec, "v2"));
        await admin.WaitForAsync(canary.Id, 60, DeploymentState.Paused);

        // Load on both revisions (50/50) for three analysis windows and a margin for a busy machine; points come a second apart.
        var deadline = spec.Analysis.Window * 3 + TimeSpan.FromSeconds(40);
        var load = TrafficLoad.SendAsync(spec, deadline);
        await LogInAsync("olivia");
        await _page.GotoAsync($"{server.BaseUrl}#/deployments/{canary.Id}").Within(30);
        var charts = _page.Locator("[data-testid=charts]");
        var stable = _page.Locator("[data-testid=series-row][data-role=stable]");
        var fresh = _page.Locator("[data-testid=series-row][data-role=new]");
        await Assertions.Expect(stable.Locator("td").Nth(3)).Not.ToHaveTextAsync("—", new() { Timeout = (float)deadline.TotalMilliseconds }).Within(deadline.TotalSeconds + 30);
        await Assertions.Expect(fresh.Locator("td").Nth(3)).Not.ToHaveTextAsync("—", new() { Timeout = (float)deadline.TotalMilliseconds }).Within(deadline.TotalSeconds + 30);
        var before = int.Parse((await charts.GetAttributeAsync("data-points").Within(10))!, System.Globalization.CultureInfo.InvariantCulture);

        // A reload starts from nothing in the browser: the history comes back from the server, both revisions.
        await _page.ReloadAsync().Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("Paused", new() { Timeout = Wait }).Within(70);
        await _page.WaitForFunctionAsync($"n => Number(document.querySelector('[data-testid=charts]')?.dataset.points) >= n", before, new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(stable.Locator("th")).ToHaveTextAsync("stable r1").Within(30);
        await Assertions.Expect(fresh.Locator("th")).ToHaveTextAsync("new r2").Within(30);
        await Assertions.Expect(fresh.Locator("td").Nth(3)).Not.ToHaveTextAsync("—").Within(30);
        var errors = _page.Locator("[data-testid=chart-errors]");
        await Assertions.Expect(errors).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex(@"Error rate of stable r1 and new r2; \d+ points from .*maximum error rate 5 %")).Within(30);
        await Assertions.Expect(_page.Locator("[data-testid=chart-weight]")).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex("latest r1 50 % · r2 50 %")).Within(30);

        // Live points keep coming over the event stream, without a reload.
        var reloaded = int.Parse((await charts.GetAttributeAsync("data-points").Within(10))!, System.Globalization.CultureInfo.InvariantCulture);
        await _page.WaitForFunctionAsync($"n => Number(document.querySelector('[data-testid=charts]')?.dataset.points) > n", reloaded + 2, new() { Timeout = Wait }).Within(70);
        await _page.ClickAsync("[data-testid=charts] summary").Within(30);
        await _page.ScreenshotAsync(new() { Path = Artifact("charts-after-reload.png"), FullPage = true }).Within(30);
        var found = await AxeAsync("deployment page with charts and their table");

        // Rolled back: the failure moment is marked, and the chart keeps both revisions.
        await admin.PostJsonAsync<Deployment>($"api/deployments/{canary.Id}/stop", new { rollback = true });
        await Assertions.Expect(_page.Locator("[data-testid=deployment-state]")).ToHaveTextAsync("RolledBack", new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(errors).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex("failed at "), new() { Timeout = Wait }).Within(70);
        await Assertions.Expect(_page.Locator("[data-testid=chart-legend]")).ToContainTextAsync("failed").Within(30);
        await load;
        await _page.ReloadAsync().Within(70);
        await Assertions.Expect(errors).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex("stable r1 and new r2.*failed at "), new() { Timeout = Wait }).Within(70);
        await _page.ScreenshotAsync(new() { Path = Artifact("charts-rolled-back.png"), FullPage = true }).Within(30);
        found.ShouldBeEmpty("axe found serious or critical violations:\n" + string.Join("\n", found));
        _consoleErrors.ShouldBeEmpty();
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

    private Task PressAsync(string key) => _page.Keyboard.PressAsync(key).Within(30);

    private Task ExpectFocusedAsync(string selector) =>
        Assertions.Expect(_page.Locator(selector)).ToBeFocusedAsync(new() { Timeout = 5_000 }).Within(30);

    /// <summary>Marks the element, so <see cref="WaitReplacedAsync"/> can tell when a re-render replaced it.</summary>
    private static Task MarkAsync(ILocator locator) => locator.EvaluateAsync("e => { e.dataset.old = '1'; }").Within(30);

    private Task WaitReplacedAsync(ILocator locator) =>
        Assertions.Expect(locator).Not.ToHaveAttributeAsync("data-old", "1", new() { Timeout = Wait }).Within(70);

    private static string Artifact(string name) => Path.Combine(ServerFixture.ArtifactsDirectory, name);
}
