using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Backstay.Core.Hooks;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Hooks;

public sealed class HttpHookRunnerTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private static readonly HookContext Context = new()
    {
        DeploymentId = "d-ABCDEFGHJ",
        HookId = "h-KLMNPQRST",
        Service = "web",
        Stage = Stages.AfterAllowTestTraffic,
        StableRevision = 4,
        TargetRevision = 5,
        TestListenerUrl = "http://127.0.0.1:8081/",
    };

    private readonly HttpClient _client = new();

    [Fact]
    public async Task RunAsync_SecretConfigured_PostsContextSignedWithHmacSha256OfTheBody()
    {
        await using var server = LoopbackHttpServer.Always(204);
        var hook = new HttpHookSpec { Url = server.Url.ToString(), SecretEnv = "HOOK_SECRET", Timeout = TimeSpan.FromSeconds(5) };

        var outcome = await Runner().RunAsync(hook, Context, name => name == "HOOK_SECRET" ? "s3cret" : null, CancellationToken.None).WaitAsync(Limit);

        outcome.Passed.ShouldBeTrue(outcome.Output);
        var request = server.Requests.ShouldHaveSingleItem();
        request.Method.ShouldBe("POST");
        request.Path.ShouldBe("/hook");
        request.Headers["Content-Type"].ShouldStartWith("application/json");
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes("s3cret"), Encoding.UTF8.GetBytes(request.Body)));
        request.Headers[HttpHookRunner.SignatureHeader].ShouldBe(expected);
        using var body = JsonDocument.Parse(request.Body);
        body.RootElement.GetProperty("deploymentId").GetString().ShouldBe("d-ABCDEFGHJ");
        body.RootElement.GetProperty("hookId").GetString().ShouldBe("h-KLMNPQRST");
        body.RootElement.GetProperty("stage").GetString().ShouldBe("AfterAllowTestTraffic");
        body.RootElement.GetProperty("stableRevision").GetInt32().ShouldBe(4);
        body.RootElement.GetProperty("targetRevision").GetInt32().ShouldBe(5);
        body.RootElement.GetProperty("rollback").GetBoolean().ShouldBeFalse();
        body.RootElement.GetProperty("testListenerUrl").GetString().ShouldBe("http://127.0.0.1:8081/");
    }

    [Fact]
    public async Task RunAsync_NoSecret_NoSignatureHeader()
    {
        await using var server = LoopbackHttpServer.Always(200);
        var hook = new HttpHookSpec { Url = server.Url.ToString(), Timeout = TimeSpan.FromSeconds(5) };

        var outcome = await Runner().RunAsync(hook, Context, _ => "unused", CancellationToken.None).WaitAsync(Limit);

        outcome.Passed.ShouldBeTrue(outcome.Output);
        server.Requests.ShouldHaveSingleItem().Headers.ContainsKey(HttpHookRunner.SignatureHeader).ShouldBeFalse();
    }

    [Fact]
    public async Task RunAsync_ClientError_FailsWithoutRetrying()
    {
        await using var server = LoopbackHttpServer.Always(403);
        var hook = new HttpHookSpec { Url = server.Url.ToString(), Timeout = TimeSpan.FromSeconds(5), Retries = 3 };

        var outcome = await Runner().RunAsync(hook, Context, _ => null, CancellationToken.None).WaitAsync(Limit);

        outcome.Passed.ShouldBeFalse();
        outcome.TimedOut.ShouldBeFalse();
        outcome.Output.ShouldContain("attempt 1: 403");
        server.Requests.Count.ShouldBe(1, "a 4xx answer will not change on retry");
    }

    [Fact]
    public async Task RunAsync_NothingListens_FailedAfterRetries()
    {
        var hook = new HttpHookSpec { Url = $"http://127.0.0.1:{ClosedPort()}/hook", Timeout = TimeSpan.FromSeconds(5), Retries = 1 };

        var outcome = await Runner().RunAsync(hook, Context, _ => null, CancellationToken.None).WaitAsync(Limit);

        outcome.Passed.ShouldBeFalse();
        outcome.TimedOut.ShouldBeFalse();
        outcome.Output.ShouldContain("attempt 2:");
    }

    [Fact]
    public async Task RunAsync_SecretVariableMissing_FailsNamingItWithoutCalling()
    {
        await using var server = LoopbackHttpServer.Always(200);
        var hook = new HttpHookSpec { Url = server.Url.ToString(), SecretEnv = "HOOK_SECRET_NOT_SET" };

        var outcome = await Runner().RunAsync(hook, Context, _ => null, CancellationToken.None).WaitAsync(Limit);

        outcome.Passed.ShouldBeFalse();
        outcome.Output.ShouldContain("HOOK_SECRET_NOT_SET");
        server.Requests.ShouldBeEmpty();
    }

    public void Dispose() => _client.Dispose();

    private HttpHookRunner Runner() => new(_client, TimeProvider.System);

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
