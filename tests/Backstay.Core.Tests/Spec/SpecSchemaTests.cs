using System.Text.Json;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

public class SpecSchemaTests
{
    private static readonly JsonElement Schema = LoadSchema();

    public static TheoryData<string, string[]> Definitions => new()
    {
        { "platform", [.. SpecKeys.Platform] },
        { "localPlatform", [.. SpecKeys.LocalPlatform] },
        { "listeners", [.. SpecKeys.Listeners] },
        { "ecsPlatform", [.. SpecKeys.EcsPlatform] },
        { "loadBalancer", [.. SpecKeys.LoadBalancer] },
        { "task", [.. SpecKeys.Task] },
        { "healthCheck", [.. SpecKeys.HealthCheck] },
        { "strategy", [.. SpecKeys.Strategy] },
        { "rolling", [.. SpecKeys.Rolling] },
        { "blueGreen", [.. SpecKeys.BlueGreen] },
        { "canary", [.. SpecKeys.Canary] },
        { "canaryStep", [.. SpecKeys.CanaryStep] },
        { "pauseStep", [.. SpecKeys.PauseStep] },
        { "linear", [.. SpecKeys.Linear] },
        { "phased", [.. SpecKeys.Phased] },
        { "analysis", [.. SpecKeys.Analysis] },
        { "hooks", [.. SpecKeys.HookStages] },
        { "hook", [.. SpecKeys.Hook] },
        { "execHook", [.. SpecKeys.ExecHook] },
        { "httpHook", [.. SpecKeys.HttpHook] },
        { "pauseHook", [.. SpecKeys.PauseHook] },
        { "rollback", [.. SpecKeys.Rollback] },
        { "retention", [.. SpecKeys.Retention] },
    };

    [Fact]
    public void Schema_TopLevel_HasExactlyTheKeysTheLoaderAccepts()
    {
        Schema.GetProperty("$schema").GetString().ShouldBe("https://json-schema.org/draft/2020-12/schema");
        Schema.GetProperty("additionalProperties").GetBoolean().ShouldBeFalse();

        PropertyNames(Schema).ShouldBe(SpecLoader.TopLevelKeys, ignoreOrder: true);
    }

    [Theory]
    [MemberData(nameof(Definitions))]
    public void Schema_Definition_HasExactlyTheKeysTheLoaderAccepts(string definition, string[] keys)
    {
        var schema = Schema.GetProperty("$defs").GetProperty(definition);

        schema.GetProperty("additionalProperties").GetBoolean().ShouldBeFalse();
        PropertyNames(schema).ShouldBe(keys, ignoreOrder: true);
    }

    [Fact]
    public void Schema_OnTimeout_ListsTheActionsTheLoaderAccepts()
    {
        var values = Schema.GetProperty("$defs").GetProperty("pauseHook").GetProperty("properties")
            .GetProperty("onTimeout").GetProperty("enum").EnumerateArray().Select(value => value.GetString());

        values.ShouldBe(SpecKeys.OnTimeoutActions);
    }

    [Fact]
    public void Docs_SpecReference_MentionsEveryKeyAndStage()
    {
        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "spec.md"));
        var keys = SpecKeys.Root.Concat(Definitions.SelectMany(row => (string[])row[1])).Distinct();

        // A key appears on its own (`window`) or at the end of a path (`healthCheck.path`).
        keys.Where(key => !docs.Contains($"`{key}`", StringComparison.Ordinal) && !docs.Contains($".{key}`", StringComparison.Ordinal))
            .ShouldBeEmpty();
    }

    private static IEnumerable<string> PropertyNames(JsonElement schema) =>
        schema.GetProperty("properties").EnumerateObject().Select(property => property.Name);

    private static JsonElement LoadSchema()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot(), "schema", "backstay.schema.json")));
        return document.RootElement.Clone();
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "schema", "backstay.schema.json")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No schema/backstay.schema.json above {AppContext.BaseDirectory}.");
    }
}
