using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>
/// One YAML mapping of the spec, checked against the keys it may hold; unknown keys are reported
/// when it is made, and typed getters report wrong values under the key's full path.
/// </summary>
internal sealed class SpecMap
{
    private readonly SpecReader _reader;
    private readonly List<KeyValuePair<YamlScalarNode, YamlNode>> _entries = [];

    public SpecMap(SpecReader reader, YamlNode origin, string path, IReadOnlyList<string> allowedKeys, string noun = "key")
    {
        _reader = reader;
        Origin = origin;
        Path = path;
        if (origin is not YamlMappingNode mapping)
        {
            return;
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key } scalarKey || SpecReader.IsNull(keyNode))
            {
                reader.Report(keyNode, path, $"keys must be plain names such as {SpecKeys.Join(allowedKeys.Take(3))}, got {SpecReader.Describe(keyNode)}");
                HasUnknownKeys = true;
                continue;
            }

            if (!allowedKeys.Contains(key, StringComparer.Ordinal))
            {
                var suggestion = SpecValues.ClosestMatch(key, allowedKeys);
                var hint = suggestion is null ? "." : $"; did you mean '{suggestion}'?";
                reader.Report(keyNode, PathOf(key), $"unknown {noun} '{key}'{hint} Allowed {noun}s: {SpecKeys.Join(allowedKeys)}");
                HasUnknownKeys = true;
                continue;
            }

            _entries.Add(new(scalarKey, value));
        }
    }

    /// <summary>The node the mapping was read from (a null scalar when the mapping was left empty).</summary>
    public YamlNode Origin { get; }

    /// <summary>Key path of the mapping, such as "strategy.canary"; empty for the document root.</summary>
    public string Path { get; }

    public bool HasUnknownKeys { get; }

    public IEnumerable<KeyValuePair<YamlScalarNode, YamlNode>> Entries => _entries;

    public string PathOf(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public YamlNode? Get(string key) => Find(key)?.Value;

    public YamlScalarNode? KeyNode(string key) => Find(key)?.Key;

    public bool Has(string key) => Find(key) is not null;

    /// <summary>Which of the given keys are present, in the order the file has them.</summary>
    public IReadOnlyList<string> Present(IReadOnlyList<string> keys) =>
        _entries.Select(entry => entry.Key.Value!).Where(key => keys.Contains(key, StringComparer.Ordinal)).ToList();

    public SpecMap? Map(string key, IReadOnlyList<string> allowedKeys, string example, string noun = "key") =>
        Get(key) is { } node ? _reader.ReadMap(node, PathOf(key), allowedKeys, example, noun) : null;

    public int Int(string key, int fallback, int min, int max) =>
        Get(key) is { } node ? _reader.ReadInt(node, PathOf(key), min, max) ?? fallback : fallback;

    public bool Bool(string key, bool fallback) =>
        Get(key) is { } node ? _reader.ReadBool(node, PathOf(key)) ?? fallback : fallback;

    public TimeSpan Duration(string key, TimeSpan fallback, bool allowZero = false) =>
        Get(key) is { } node ? _reader.ReadDuration(node, PathOf(key), allowZero) ?? fallback : fallback;

    /// <summary>A string that may be left out; an empty value counts as left out.</summary>
    public string? OptionalString(string key) =>
        Get(key) is { } node && _reader.ReadString(node, PathOf(key)) is { } value && !string.IsNullOrWhiteSpace(value)
            ? value
            : null;

    /// <summary>A string that must be present and not empty; reports what to write when it is missing.</summary>
    public string RequiredString(string key, string example)
    {
        if (Get(key) is not { } node)
        {
            _reader.Report(Origin, PathOf(key), $"is required; add e.g. `{key}: {example}`");
            return "";
        }

        var value = _reader.ReadString(node, PathOf(key));
        if (value is null && !SpecReader.IsNull(node))
        {
            return "";
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            _reader.Report(node, PathOf(key), $"must not be empty; write e.g. `{key}: {example}`");
            return "";
        }

        return value;
    }

    private KeyValuePair<YamlScalarNode, YamlNode>? Find(string key)
    {
        foreach (var entry in _entries)
        {
            if (entry.Key.Value == key)
            {
                return entry;
            }
        }

        return null;
    }
}
