using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Backstay.Cli.Infrastructure;
using Backstay.Core.Model;

namespace Backstay.Cli.Tests;

/// <summary>
/// The native binary has no reflection-based JSON: every document the CLI writes or reads must come from a generated
/// context. These run in-process in a second, without publishing: the options have only the contexts as resolvers,
/// as under Native AOT, so a type no context names fails here as it would in the binary.
/// </summary>
public sealed class CliJsonContractTests
{
    /// <summary>Every record the CLI declares for JSON (reports, request bodies) resolves through Reports.Json.</summary>
    [Fact]
    public void EveryCliJsonRecord_ResolvesFromTheGeneratedContexts()
    {
        var records = typeof(Reports).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(Reports).Namespace && (t.Name.EndsWith("Report", StringComparison.Ordinal) || t.Name.EndsWith("RequestBody", StringComparison.Ordinal)))
            .ToList();
        records.Count.ShouldBeGreaterThan(10);
        foreach (var type in records)
        {
            Should.NotThrow(() => Reports.Json.GetTypeInfo(type), type.Name);
        }
    }

    [Fact]
    public void ReportsJson_HasNoReflectionFallback()
    {
        Reports.Json.TypeInfoResolver.ShouldNotBeNull();
        Should.Throw<NotSupportedException>(() => Reports.Json.GetTypeInfo(typeof(Uri)));
        Should.Throw<NotSupportedException>(() => BackstayJson.Options.GetTypeInfo(typeof(Uri)));
    }

    /// <summary>The records that replaced anonymous types write the same JSON: camelCase members in declaration order, enums by name.</summary>
    [Fact]
    public void Reports_WriteTheShapesTheSchemasDescribe()
    {
        var load = JsonDocument.Parse(BackstayJson.Serialize(new LoadReport(Reports.SchemaVersion, 10, 1, 0), Reports.Json)).RootElement;
        load.EnumerateObject().Select(p => p.Name).ShouldBe(["schemaVersion", "requests", "failed", "skipped"]);

        var tokens = BackstayJson.Serialize(new List<TokenListReport> { new(1, "ci", "admin", null, null, false) }, Reports.Json);
        JsonDocument.Parse(tokens).RootElement[0].EnumerateObject().Select(p => p.Name)
            .ShouldBe(["schemaVersion", "name", "role", "createdAt", "createdBy", "bootstrap"]);

        var deployment = new Deployment { Id = "d-1", Service = "s", Strategy = "canary", State = DeploymentState.RolledBack, Kind = DeploymentKind.Deploy };
        var json = JsonDocument.Parse(BackstayJson.Serialize(deployment, Reports.Json)).RootElement;
        json.GetProperty("state").GetString().ShouldBe("RolledBack");
        json.GetProperty("kind").GetString().ShouldBe("Deploy");
    }

    /// <summary>A body of a type no context names fails at once with the type's name, not with a guess.</summary>
    [Fact]
    public void UnknownType_FailsNamingIt()
    {
        var ex = Should.Throw<NotSupportedException>(() => BackstayJson.Serialize(new Uri("http://x/"), Reports.Json));
        ex.Message.ShouldContain("System.Uri");
    }

    /// <summary>Every context the CLI ships writes enums by name, as BackstayJson.Options always did.</summary>
    [Fact]
    public void Contexts_UseStringEnums()
    {
        typeof(CliJsonContext).GetCustomAttribute<JsonSourceGenerationOptionsAttribute>()!.UseStringEnumConverter.ShouldBeTrue();
    }
}
