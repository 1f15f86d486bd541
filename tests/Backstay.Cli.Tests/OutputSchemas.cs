using System.Text;
using System.Text.Json;
using Json.Schema;

namespace Backstay.Cli.Tests;

/// <summary>
/// The published schemas of `--output json` (schema/output/*.schema.json), loaded from the checkout, and the checks a
/// printed document must pass: it matches its command's schema, and no string in it holds JSON.
/// </summary>
public static class OutputSchemas
{
    private static readonly Lazy<Dictionary<string, JsonSchema>> Loaded = new(Load);

    public static string Directory => Path.Combine(CliRunner.RepositoryRoot(), "schema", "output");

    /// <summary>The schemas by file name without ".schema.json": deploy, history, status, ...</summary>
    public static IReadOnlyDictionary<string, JsonSchema> All => Loaded.Value;

    private static Dictionary<string, JsonSchema> Load()
    {
        var options = new BuildOptions { SchemaRegistry = new SchemaRegistry() };
        var files = System.IO.Directory.GetFiles(Directory, "*.schema.json");

        // Schemas others refer to are built first: references are found in the registry by their $id.
        string[] first = ["common", "token-create", "deployment-report", "release-report"];
        var ordered = first.Select(n => Path.Combine(Directory, n + ".schema.json"))
            .Concat(files.Where(f => !first.Contains(Name(f))).Order(StringComparer.Ordinal));
        var schemas = new Dictionary<string, JsonSchema>(StringComparer.Ordinal);
        foreach (var file in ordered)
        {
            schemas[Name(file)] = JsonSchema.FromText(File.ReadAllText(file), options);
        }

        return schemas;
    }

    private static string Name(string file) => Path.GetFileName(file)[..^".schema.json".Length];

    /// <summary>What is wrong with a command's stdout: not JSON, not matching its schema, or JSON inside a string. Empty when all is well.</summary>
    public static List<string> Problems(string schema, string stdout)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(stdout);
        }
        catch (JsonException ex)
        {
            return [$"not one JSON document: {ex.Message}\n{stdout}"];
        }

        using (document)
        {
            var problems = SchemaErrors(schema, document.RootElement);
            problems.AddRange(JsonInsideStrings(document.RootElement).Select(p => $"{p.Path}: a string holds JSON ({Cut(p.Value)}); give it as an object or array"));
            return problems;
        }
    }

    /// <summary>Every error of evaluating the document against the named schema, with where in the document and in the schema.</summary>
    public static List<string> SchemaErrors(string schema, JsonElement document)
    {
        if (!All.TryGetValue(schema, out var found))
        {
            return [$"no schema/output/{schema}.schema.json"];
        }

        var results = found.Evaluate(document, new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });
        if (results.IsValid)
        {
            return [];
        }

        var errors = new List<string>();
        foreach (var node in (results.Details ?? []).Prepend(results))
        {
            foreach (var (keyword, message) in node.Errors ?? new Dictionary<string, string>())
            {
                errors.Add($"{(node.InstanceLocation.ToString() is { Length: > 0 } at ? at : "/")} ({node.EvaluationPath} {keyword}): {message}");
            }
        }

        return errors.Count > 0 ? errors : ["does not match (no error details)"];
    }

    /// <summary>The strings of a document that parse as a JSON object or array: JSON encoded inside JSON.</summary>
    public static List<(string Path, string Value)> JsonInsideStrings(JsonElement element, string path = "")
    {
        var found = new List<(string, string)>();
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    found.AddRange(JsonInsideStrings(property.Value, $"{path}/{property.Name}"));
                }

                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    found.AddRange(JsonInsideStrings(item, $"{path}/{i++}"));
                }

                break;
            case JsonValueKind.String:
                var text = element.GetString()!.Trim();
                if (text.Length > 1 && text[0] is '{' or '[')
                {
                    try
                    {
                        using var inner = JsonDocument.Parse(text);
                        if (inner.RootElement.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                        {
                            found.Add((path.Length == 0 ? "/" : path, text));
                        }
                    }
                    catch (JsonException)
                    {
                    }
                }

                break;
        }

        return found;
    }

    private static string Cut(string text) => text.Length > 80 ? text[..80] + "..." : text;

    /// <summary>Collects the documents of several commands and fails once with every problem of every one.</summary>
    public sealed class Checked
    {
        private readonly List<string> _problems = [];
        private readonly List<string> _seen = [];

        public IReadOnlyList<string> Seen => _seen;

        /// <summary>Checks a command's stdout against the schema named; returns the parsed document for the test to read on.</summary>
        public JsonElement Check(string schema, CliResult result, string what)
        {
            _seen.Add(schema);
            var problems = Problems(schema, result.Stdout);
            _problems.AddRange(problems.Select(p => $"{what} (schema {schema}, exit {result.ExitCode}): {p}"));
            try
            {
                using var document = JsonDocument.Parse(result.Stdout);
                return document.RootElement.Clone();
            }
            catch (JsonException)
            {
                // The test reads on from the document: fail now, with everything found so far.
                _problems.Add($"{what} printed no JSON document (exit {result.ExitCode}).\nstdout: {result.Stdout}\nstderr: {result.Stderr}");
                ShouldHaveNoProblems();
                throw;
            }
        }

        public void ShouldHaveNoProblems()
        {
            if (_problems.Count > 0)
            {
                var text = new StringBuilder().AppendLine($"{_problems.Count} problem(s) in --output json documents:");
                foreach (var problem in _problems)
                {
                    text.AppendLine("  " + problem);
                }

                throw new ShouldAssertException(text.ToString());
            }
        }
    }
}
