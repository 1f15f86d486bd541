using System.Text.Json;
using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Hooks;

public sealed class NotifierTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    private static readonly Deployment RolledBack = new()
    {
        Id = "d-ABCDEFGHJ",
        Service = "web",
        Strategy = "canary",
        TargetRevision = 3,
        StableRevision = 2,
        State = DeploymentState.RolledBack,
        Reason = "analysis failed: error rate 30% (6/20) is above the limit of 5%",
    };

    [Fact]
    public async Task SendAsync_JsonWebhookWithSecret_PostsTheEventSigned()
    {
        await using var server = LoopbackHttpServer.Always(200);
        using var client = new HttpClient();
        var webhook = new NotificationSpec { Url = server.Url.ToString(), SecretEnv = "NOTIFY_SECRET" };

        var failures = await Notifier.SendAsync([webhook], NotificationEvent.From("rolledBack", RolledBack, At), client,
            name => name == "NOTIFY_SECRET" ? "s3cret" : null, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        failures.ShouldBeEmpty();
        var request = server.Requests.ShouldHaveSingleItem();
        var body = JsonDocument.Parse(request.Body).RootElement;
        body.GetProperty("event").GetString().ShouldBe("rolledBack");
        body.GetProperty("deploymentId").GetString().ShouldBe("d-ABCDEFGHJ");
        body.GetProperty("revision").GetInt32().ShouldBe(3);
        body.GetProperty("stableRevision").GetInt32().ShouldBe(2);
        body.GetProperty("reason").GetString()!.ShouldContain("error rate 30%");
        request.Headers[HttpHookRunner.SignatureHeader].ShouldBe(HttpHookRunner.Sign("s3cret", request.Body));
    }

    [Fact]
    public async Task SendAsync_SlackWebhook_PostsATextPayload()
    {
        await using var server = LoopbackHttpServer.Always(200);
        using var client = new HttpClient();
        var webhook = new NotificationSpec { Url = server.Url.ToString(), Format = "slack" };

        await Notifier.SendAsync([webhook], NotificationEvent.From("rolledBack", RolledBack, At), client, _ => null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(20));

        var body = JsonDocument.Parse(server.Requests.ShouldHaveSingleItem().Body).RootElement;
        body.EnumerateObject().Select(p => p.Name).ShouldBe(["text"]);
        body.GetProperty("text").GetString().ShouldBe(
            "Backstay: web rolled back revision 3 (stable: revision 2) with canary, deployment d-ABCDEFGHJ: analysis failed: error rate 30% (6/20) is above the limit of 5%");
    }

    [Fact]
    public async Task SendAsync_EventNotAskedFor_SendsNothing()
    {
        await using var server = LoopbackHttpServer.Always(200);
        using var client = new HttpClient();
        var webhook = new NotificationSpec { Url = server.Url.ToString(), Events = ["failed"] };

        var failures = await Notifier.SendAsync([webhook], NotificationEvent.From("succeeded", RolledBack, At), client, _ => null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(20));

        failures.ShouldBeEmpty();
        server.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task SendAsync_WebhookFailing_ReportsItWithTheHostOnlyAfterOneRetry()
    {
        await using var server = LoopbackHttpServer.Always(500);
        using var client = new HttpClient();
        var webhook = new NotificationSpec { Url = server.Url + "?token=secret-in-url" };

        var failures = await Notifier.SendAsync([webhook], NotificationEvent.From("failed", RolledBack, At), client, _ => null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(20));

        server.Requests.Count.ShouldBe(2);
        var failure = failures.ShouldHaveSingleItem();
        failure.ShouldContain("HTTP 500");
        failure.ShouldNotContain("secret-in-url");
    }
}
