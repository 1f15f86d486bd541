using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Backstay.Core.Hooks;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Core.Tests.Hooks;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>Http hooks against a real HTTP server on loopback while the engine runs on the fake clock.</summary>
public sealed class HooksHttpTests
{
    private const string Web = EngineHarness.ServiceName;

    /// <summary>A stage that does not run again during a rollback, so request counts belong to the deployment alone.</summary>
    private const string Stage = Stages.AfterAllowTestTraffic;

    [Fact]
    public async Task RunAsync_HttpHookAnswers2xx_SucceedsWithContextBodySignedWithTheSecret()
    {
        var secretEnv = $"BACKSTAY_TEST_HOOK_SECRET_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(secretEnv, "hunter2");
        try
        {
            await using var server = LoopbackHttpServer.Always(200);
            await using var harness = new EngineHarness();
            await DeployFirstAsync(harness);

            var done = await harness.DeployAsync(Canary(HookSpecs.Http(server.Url, secretEnv: secretEnv)), Healthy(harness));

            done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
            var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
            run.Kind.ShouldBe("http");
            run.State.ShouldBe(HookState.Succeeded);
            run.Output.ShouldNotBeNull().ShouldContain("attempt 1: 200");
            var request = server.Requests.ShouldHaveSingleItem();
            request.Method.ShouldBe("POST");
            var signature = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes("hunter2"), Encoding.UTF8.GetBytes(request.Body)));
            request.Headers[HttpHookRunner.SignatureHeader].ShouldBe(signature);
            using var body = JsonDocument.Parse(request.Body);
            body.RootElement.GetProperty("deploymentId").GetString().ShouldBe(done.Id);
            body.RootElement.GetProperty("hookId").GetString().ShouldBe(run.Id);
            body.RootElement.GetProperty("service").GetString().ShouldBe(Web);
            body.RootElement.GetProperty("stage").GetString().ShouldBe(Stage);
            body.RootElement.GetProperty("stableRevision").GetInt32().ShouldBe(1);
            body.RootElement.GetProperty("targetRevision").GetInt32().ShouldBe(2);
            body.RootElement.GetProperty("rollback").GetBoolean().ShouldBeFalse();
        }
        finally
        {
            Environment.SetEnvironmentVariable(secretEnv, null);
        }
    }

    [Fact]
    public async Task RunAsync_HttpHookAnswers500Then200_SucceedsAfterARetry()
    {
        await using var server = new LoopbackHttpServer(n => n == 1 ? 500 : 200);
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);

        var done = await harness.DeployAsync(Canary(HookSpecs.Http(server.Url, retries: 2)), Healthy(harness));

        done.State.ShouldBe(DeploymentState.Succeeded, done.Reason);
        server.Requests.Count.ShouldBe(2);
        var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
        run.State.ShouldBe(HookState.Succeeded);
        run.Output.ShouldNotBeNull().ShouldContain("attempt 1: 500");
        run.Output.ShouldContain("attempt 2: 200");
    }

    [Fact]
    public async Task RunAsync_HttpHookAlwaysAnswers500_FailsAfterItsRetriesAndRollsBack()
    {
        await using var server = LoopbackHttpServer.Always(500);
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);

        var done = await harness.DeployAsync(Canary(HookSpecs.Http(server.Url, retries: 2)), Healthy(harness));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        server.Requests.Count.ShouldBe(3, "one try and two retries");
        var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
        run.State.ShouldBe(HookState.Failed);
        run.Output.ShouldNotBeNull().ShouldContain("attempt 3: 500");
        done.Reason.ShouldNotBeNull().ShouldContain($"hook {run.Id} (http) failed");
        harness.RollbackOf(done.Id).ShouldNotBeNull().Trigger.ShouldBe(Trigger.AutomaticRollback);
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_HttpHookNeverAnswers_TimedOutAndRolledBack()
    {
        await using var server = new LoopbackHttpServer(_ => null);
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);

        var done = await harness.DeployAsync(Canary(HookSpecs.Http(server.Url, timeout: TimeSpan.FromMilliseconds(500), retries: 1)), Healthy(harness));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        server.Requests.Count.ShouldBe(2);
        var run = harness.Store.HookRuns(done.Id).ShouldHaveSingleItem();
        run.State.ShouldBe(HookState.TimedOut);
        run.Output.ShouldNotBeNull().ShouldContain("no answer within");
        done.Reason.ShouldNotBeNull().ShouldContain($"hook {run.Id} (http) timed out");
        harness.Platform.ShouldServeOnly(1, 3, others: 2);
    }

    [Fact]
    public async Task RunAsync_HttpHookSecretVariableMissing_FailsNamingTheVariableWithoutCalling()
    {
        var secretEnv = $"BACKSTAY_TEST_MISSING_SECRET_{Guid.NewGuid():N}";
        await using var server = LoopbackHttpServer.Always(200);
        await using var harness = new EngineHarness();
        await DeployFirstAsync(harness);

        var done = await harness.DeployAsync(Canary(HookSpecs.Http(server.Url, secretEnv: secretEnv)), Healthy(harness));

        done.State.ShouldBe(DeploymentState.RolledBack, done.Reason);
        done.Reason.ShouldNotBeNull().ShouldContain(secretEnv);
        harness.Store.HookRuns(done.Id).ShouldHaveSingleItem().Output.ShouldNotBeNull().ShouldContain(secretEnv);
        server.Requests.ShouldBeEmpty("an unsigned call is never sent when a secret is configured");
    }

    private static ServiceSpec Canary(HookSpec hook) =>
        Specs.Service(Specs.Canary(Specs.Weight(50))).WithHooks(null, (Stage, [hook]));

    private static Action<int> Healthy(EngineHarness harness) => r => harness.Platform.SetTraffic(Web, r, new TrafficProfile());

    private static async Task DeployFirstAsync(EngineHarness harness)
    {
        await harness.StartEngineAsync();
        (await harness.DeployAsync(Specs.Service(), Healthy(harness))).State.ShouldBe(DeploymentState.Succeeded);
    }
}
