using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>`backstay token create|list|revoke` against a real `backstay serve`: named tokens, kept hashed, with their roles.</summary>
[Collection("serve")]
public sealed class TokenCommandTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public TokenCommandTests()
    {
        _cli.WriteFile("backstay.yaml", $$"""
            service: web
            platform:
              local:
                instances: 1
                listeners: { production: 127.0.0.1:{{_prod}} }
            task:
              image: builtin:hello
              startTimeout: 20s
              healthCheck: { path: /healthz, interval: 500ms, timeout: 400ms, healthyThreshold: 1, unhealthyThreshold: 3 }
            strategy:
              rolling: { batch: 1 }
            """);
    }

    public void Dispose() => _cli.Dispose();

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Token_CreatedListedUsedAndRevoked_IsKeptHashedNamedInTheHistoryAndRefusedOnceRevoked()
    {
        var serve = await _cli.StartServeAsync();

        var created = await _cli.RunAsync("token", "create", "ci-deploy", "--role", "operator", "--output", "json");
        created.ExitCode.ShouldBe(0, created.Stderr);
        var secret = JsonDocument.Parse(created.Stdout).RootElement.GetProperty("token").GetString().ShouldNotBeNull();
        secret.Length.ShouldBeGreaterThan(20);

        var listed = await _cli.RunAsync("token", "list", "--output", "json");
        listed.ExitCode.ShouldBe(0, listed.Stderr);
        listed.Stdout.ShouldContain("ci-deploy");
        listed.Stdout.ShouldNotContain(secret, customMessage: "list shows names and roles, never tokens");
        var file = Path.Combine(_cli.StateDirectory, "tokens.json");
        (await File.ReadAllTextAsync(file)).ShouldNotContain(secret, customMessage: "tokens.json keeps a hash");
        File.GetUnixFileMode(file).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);

        // An operator may not deploy (admin only) but may roll back; what it does is recorded under the token's name.
        var deploy = await _cli.RunAsync("deploy", "--token", secret);
        deploy.ExitCode.ShouldNotBe(0);
        deploy.Stderr.ShouldContain("admin");
        (await _cli.DeployAsync()).Outcome.ShouldBe("Succeeded");
        (await _cli.DeployAsync("--env", "GREETING=v2")).Outcome.ShouldBe("Succeeded");
        var rollback = await _cli.RunAsync("rollback", "web", "--token", secret, "--output", "json");
        rollback.ExitCode.ShouldBe(0, rollback.Stdout + rollback.Stderr);
        var history = JsonDocument.Parse((await _cli.RunAsync("history", "web", "--output", "json")).Stdout).RootElement;
        history[0].GetProperty("requestedBy").GetString().ShouldNotBeNull().ShouldContain("ci-deploy");

        var revoked = await _cli.RunAsync("token", "revoke", "ci-deploy");
        revoked.ExitCode.ShouldBe(0, revoked.Stderr);
        var refused = await _cli.RunAsync("status", "--token", secret);
        refused.ExitCode.ShouldNotBe(0);
        refused.Stderr.ShouldContain("refused the token");
        (await _cli.RunAsync("token", "list", "--output", "json")).Stdout.ShouldNotContain("ci-deploy");
        await _cli.StopServeAsync(serve, TimeSpan.FromSeconds(30));
    }
}
