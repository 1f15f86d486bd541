using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>
/// Every command's `--output json`, printed by the real CLI against a real serve and the local platform, matches its
/// published schema in schema/output and holds no JSON inside its strings (issue 12 item 8).
/// </summary>
[Collection("serve")]
public sealed class OutputJsonSchemaTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(120);
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();
    private readonly int _apiProd = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    private void WriteSpec(string file, string service, int port, string steps) =>
        _cli.WriteFile(file, $$"""
            service: {{service}}
            platform:
              local:
                instances: 1
                listeners: { production: 127.0.0.1:{{port}} }
            task:
              image: builtin:hello
              startTimeout: 20s
              healthCheck: { path: /healthz, interval: 500ms, timeout: 400ms, healthyThreshold: 1, unhealthyThreshold: 3 }
            strategy:
              canary: { steps: [ {{steps}} ] }
            """);

    private Task<CliResult> Run(params string[] args) => _cli.RunAsync(Long, [.. args, "--output", "json"]);

    [Fact]
    public async Task EveryCommandAgainstServe_OutputJson_MatchesItsSchemaAndHoldsNoJsonInStrings()
    {
        WriteSpec("backstay.yaml", "web", _prod, "{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }");
        WriteSpec("api.yaml", "api", _apiProd, "{ setWeight: 100 }");
        var docs = new OutputSchemas.Checked();
        await _cli.StartServeAsync();

        var first = docs.Check("deploy", await Run("deploy"), "deploy (first, succeeds)");
        first.GetProperty("outcome").GetString().ShouldBe("Succeeded");
        var paused = docs.Check("deploy", await Run("deploy", "--env", "GREETING=v2"), "deploy (pauses)");
        paused.GetProperty("outcome").GetString().ShouldBe("Paused");
        docs.Check("continue", await Run("continue", paused.GetProperty("id").GetString()!), "continue");

        var toStop = docs.Check("deploy", await Run("deploy", "--env", "GREETING=v3"), "deploy (pauses again)");
        docs.Check("status", await Run("status"), "status (a deployment paused)");
        docs.Check("stop", await Run("stop", toStop.GetProperty("id").GetString()!), "stop");
        docs.Check("reset", await Run("reset", "web", "--recreate"), "reset --recreate");
        docs.Check("rollback", await Run("rollback", "web"), "rollback web");

        docs.Check("deploy", await Run("deploy", "-f", "api.yaml"), "deploy api");
        docs.Check("deploy", await Run("deploy", "-f", "api.yaml", "--env", "GREETING=v2"), "deploy api v2");
        docs.Check("deploy", await Run("deploy", "-f", "api.yaml", "--env", "GREETING=v3", "--no-wait"), "deploy --no-wait");
        await _cli.WaitForOutcomeAsync("api", JsonDocument.Parse((await Run("history", "api", "--limit", "1")).Stdout).RootElement[0].GetProperty("id").GetString()!, "Succeeded");
        var both = docs.Check("rollback", await Run("rollback", "web", "api"), "rollback web api");
        both.GetProperty("rollbacks").GetArrayLength().ShouldBe(2);

        docs.Check("status", await Run("status"), "status");
        docs.Check("status", await Run("status", "web"), "status web");
        docs.Check("history", await Run("history", "web"), "history");
        docs.Check("history", await Run("history", "web", "--events"), "history --events");
        docs.Check("revisions", await Run("revisions", "web"), "revisions");

        var created = docs.Check("token-create", await Run("token", "create", "ci", "--role", "operator"), "token create");
        created.GetProperty("token").GetString().ShouldNotBeNullOrEmpty();
        docs.Check("token-list", await Run("token", "list"), "token list");
        docs.Check("token-revoke", await Run("token", "revoke", "ci"), "token revoke");

        docs.Check("load", await Run("load", $"http://127.0.0.1:{_prod}/", "--rate", "20", "--duration", "1s"), "load");

        docs.ShouldHaveNoProblems();
    }

    [Fact]
    public async Task Validate_ValidAndInvalidSpec_OutputJsonMatchesItsSchema()
    {
        WriteSpec("backstay.yaml", "web", _prod, "{ setWeight: 100 }");
        _cli.WriteFile("bad.yaml", "service: Web_1\nplatform: { local: { instances: -5 } }\ntask: { image: builtin:hello }\n");
        var docs = new OutputSchemas.Checked();

        docs.Check("validate", await Run("validate"), "validate (valid)").GetProperty("valid").GetBoolean().ShouldBeTrue();
        docs.Check("validate", await Run("validate", "-f", "bad.yaml"), "validate (invalid)").GetProperty("errorCount").GetInt32().ShouldBeGreaterThan(0);

        docs.ShouldHaveNoProblems();
    }

    [Fact]
    public async Task Demo_OutputJson_MatchesItsSchema()
    {
        var docs = new OutputSchemas.Checked();

        var demo = docs.Check("demo", await _cli.RunAsync(TimeSpan.FromSeconds(300), "demo", "--rate", "100", "--output", "json"), "demo");

        demo.GetProperty("deployments").GetArrayLength().ShouldBe(3);
        docs.ShouldHaveNoProblems();
    }

    [Fact]
    public void EverySchema_HasIdTitleDescriptionAndIsReferencedByACommandOrAnotherSchema()
    {
        var files = Directory.GetFiles(OutputSchemas.Directory, "*.schema.json");
        files.Length.ShouldBeGreaterThan(10);
        foreach (var file in files)
        {
            var root = JsonDocument.Parse(File.ReadAllText(file)).RootElement;
            root.GetProperty("$schema").GetString().ShouldBe("https://json-schema.org/draft/2020-12/schema", file);
            root.GetProperty("$id").GetString().ShouldBe("urn:backstay:schema:output:" + Path.GetFileName(file)[..^".schema.json".Length], file);
            root.TryGetProperty("description", out _).ShouldBeTrue(file);
        }

        OutputSchemas.All.Count.ShouldBe(files.Length);
    }

    [Fact]
    public void JsonInsideStrings_FindsAPlanGivenAsAString()
    {
        using var document = JsonDocument.Parse("""{"id": "d-1", "planJson": "{\"actions\": []}", "reason": "error rate 30% > {5%}", "progressJson": null}""");

        OutputSchemas.JsonInsideStrings(document.RootElement).Select(p => p.Path).ShouldBe(["/planJson"]);
    }
}
