using System.Text.Json;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

/// <summary>schema/release.schema.json and docs/releases.md say what the release file's reader accepts, no more, no less.</summary>
public class ReleaseSchemaTests
{
    private static readonly JsonElement Schema = Load();

    [Fact]
    public void Schema_TopLevelAndService_HaveExactlyTheKeysTheReaderAccepts()
    {
        Schema.GetProperty("$schema").GetString().ShouldBe("https://json-schema.org/draft/2020-12/schema");
        Schema.GetProperty("additionalProperties").GetBoolean().ShouldBeFalse();
        Names(Schema).ShouldBe(SpecKeys.ReleaseRoot, ignoreOrder: true);
        var service = Schema.GetProperty("$defs").GetProperty("service");
        service.GetProperty("additionalProperties").GetBoolean().ShouldBeFalse();
        Names(service).ShouldBe(SpecKeys.ReleaseService, ignoreOrder: true);
        Schema.GetProperty("properties").GetProperty("onFailure").GetProperty("enum").EnumerateArray().Select(v => v.GetString())
            .ShouldBe(SpecKeys.ReleaseOnFailure);
    }

    [Fact]
    public void Docs_Releases_MentionsEveryKeyAndChoice()
    {
        var docs = File.ReadAllText(Path.Combine(Root(), "docs", "releases.md"));

        SpecKeys.ReleaseRoot.Concat(SpecKeys.ReleaseService).Concat(SpecKeys.ReleaseOnFailure)
            .Where(key => !docs.Contains(key, StringComparison.Ordinal)).ShouldBeEmpty();
    }

    private static IEnumerable<string> Names(JsonElement schema) => schema.GetProperty("properties").EnumerateObject().Select(p => p.Name);

    private static JsonElement Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root(), "schema", "release.schema.json")));
        return document.RootElement.Clone();
    }

    private static string Root()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "schema", "release.schema.json")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No schema/release.schema.json above {AppContext.BaseDirectory}.");
    }
}
