using System.Globalization;
using System.Text.Json;

namespace Backstay.Core.Metrics;

/// <summary>
/// The part of JSONPath a metric needs to point at one number: <c>$</c>, then member names (<c>.name</c> or
/// <c>['name']</c>) and array indexes (<c>[0]</c>, <c>[-1]</c> for the last). No filters or wildcards: they give lists,
/// and a metric is one value. (No JSONPath library is served here; this subset is small enough to own.)
/// </summary>
internal sealed class JsonPathSubset
{
    private readonly IReadOnlyList<object> _steps;

    private JsonPathSubset(string text, IReadOnlyList<object> steps) => (Text, _steps) = (text, steps);

    public string Text { get; }

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says what is wrong, in words.</summary>
    public static JsonPathSubset? TryParse(string text, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        error = null;
        if (!text.StartsWith('$'))
        {
            error = "must start with $ (the document), e.g. $.data.value";
            return null;
        }

        var steps = new List<object>();
        var i = 1;
        while (i < text.Length)
        {
            if (text[i] == '.')
            {
                var start = ++i;
                while (i < text.Length && text[i] != '.' && text[i] != '[')
                {
                    i++;
                }

                if (i == start)
                {
                    error = $"has an empty member name at position {start}; write $.a.b";
                    return null;
                }

                steps.Add(text[start..i]);
            }
            else if (text[i] == '[' && i + 1 < text.Length && text[i + 1] is '\'' or '"')
            {
                var quote = text[i + 1];
                var end = text.IndexOf(quote, i + 2);
                if (end < 0 || end + 1 >= text.Length || text[end + 1] != ']')
                {
                    error = $"has an unclosed ['name'] at position {i}";
                    return null;
                }

                steps.Add(text[(i + 2)..end]);
                i = end + 2;
            }
            else if (text[i] == '[')
            {
                var end = text.IndexOf(']', i);
                if (end < 0 || !int.TryParse(text[(i + 1)..end], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var index))
                {
                    error = $"has '{(end < 0 ? text[i..] : text[i..(end + 1)])}' at position {i}; only .name, ['name'] and [index] are understood (no filters or wildcards: a metric is one number)";
                    return null;
                }

                steps.Add(index);
                i = end + 1;
            }
            else
            {
                error = $"has '{text[i]}' at position {i} where '.' or '[' was expected";
                return null;
            }
        }

        return new JsonPathSubset(text, steps);
    }

    /// <summary>The element the path points at, or null when the document has nothing there.</summary>
    public JsonElement? Find(JsonElement root)
    {
        var current = root;
        foreach (var step in _steps)
        {
            switch (step)
            {
                case string name when current.ValueKind == JsonValueKind.Object && current.TryGetProperty(name, out var member):
                    current = member;
                    break;
                case int index when current.ValueKind == JsonValueKind.Array:
                    var at = index < 0 ? current.GetArrayLength() + index : index;
                    if (at < 0 || at >= current.GetArrayLength())
                    {
                        return null;
                    }

                    current = current[at];
                    break;
                default:
                    return null;
            }
        }

        return current;
    }
}
