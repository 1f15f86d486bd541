using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>Typed reading of single values; each reports what it expected and what it got.</summary>
internal sealed partial class SpecReader
{
    private static readonly string DurationExpected =
        $"a duration such as {SpecValues.DurationExamples}";

    /// <summary>Reads a mapping; a value left empty reads as an empty mapping, so its keys take their defaults.</summary>
    public SpecMap? ReadMap(YamlNode node, string path, IReadOnlyList<string> allowedKeys, string example, string noun = "key")
    {
        if (node is YamlMappingNode || IsNull(node))
        {
            return new SpecMap(this, node, path, allowedKeys, noun);
        }

        Report(node, path, $"must be a mapping such as {example}, got {Describe(node)}");
        return null;
    }

    /// <summary>Reads any scalar as text; null for an empty value, and for a list or mapping (reported).</summary>
    public string? ReadString(YamlNode node, string path)
    {
        if (IsNull(node))
        {
            return null;
        }

        if (node is YamlScalarNode scalar)
        {
            return scalar.Value ?? "";
        }

        Report(node, path, $"must be a text value, got {Describe(node)}");
        return null;
    }

    public int? ReadInt(YamlNode node, string path, int min, int max)
    {
        var expected = max == int.MaxValue
            ? $"a whole number of at least {min}"
            : $"a whole number from {min} to {max}";
        if (node is YamlScalarNode { Value: { } text } scalar && !IsNull(node)
            && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            if (!IsPlain(scalar))
            {
                Report(node, path, $"must be {expected}, got the quoted text '{text}'; remove the quotes");
                return null;
            }

            if (value < min || value > max)
            {
                Report(node, path, $"must be {expected}, got {value}");
                return null;
            }

            return value;
        }

        Report(node, path, $"must be {expected}, got {Describe(node)}");
        return null;
    }

    public bool? ReadBool(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: { } text } scalar && IsPlain(scalar))
        {
            if (text is "true" or "True" or "TRUE")
            {
                return true;
            }

            if (text is "false" or "False" or "FALSE")
            {
                return false;
            }
        }

        Report(node, path, $"must be true or false, got {Describe(node)}");
        return null;
    }

    public TimeSpan? ReadDuration(YamlNode node, string path, bool allowZero)
    {
        if (node is not YamlScalarNode { Value: { } raw } || IsNull(node))
        {
            Report(node, path, $"must be {DurationExpected}, got {Describe(node)}");
            return null;
        }

        var text = raw.Trim();
        if (!SpecValues.TryParseDuration(text, out var value))
        {
            Report(node, path, SpecValues.IsNumber(text)
                ? $"must be a duration with a unit, got '{text}'; write e.g. '{text}s' (units: ms, s, m, h)"
                : $"must be {DurationExpected}, got '{text}'");
            return null;
        }

        if (value > SpecValues.MaxDuration)
        {
            Report(node, path, $"must be at most {SpecValues.FormatDuration(SpecValues.MaxDuration)}, got '{text}'");
            return null;
        }

        if (value == TimeSpan.Zero && !allowZero)
        {
            Report(node, path, $"must be longer than zero, got '{text}'; write e.g. '1s'");
            return null;
        }

        return value;
    }

    /// <summary>Reads a percentage ("1%", "0.5%") or a fraction ("0.01") into a fraction above 0 and at most 1.</summary>
    public double? ReadFraction(YamlNode node, string path)
    {
        const string Expected = "a percentage such as 1% or 0.5%, or a fraction such as 0.01, above 0 and at most 100%";
        if (node is not YamlScalarNode { Value: { } text } || IsNull(node)
            || !SpecValues.TryParseFraction(text, out var fraction, out var hadPercentSign))
        {
            Report(node, path, $"must be {Expected}, got {Describe(node)}");
            return null;
        }

        if (fraction > 1 && !hadPercentSign)
        {
            Report(node, path, $"must be {Expected}, got {text.Trim()}; a number without '%' is a fraction of 1, so write '{text.Trim()}%' if you meant percent");
            return null;
        }

        if (fraction is <= 0 or > 1)
        {
            Report(node, path, $"must be {Expected}, got '{text.Trim()}'");
            return null;
        }

        return fraction;
    }

    /// <summary>Reads one of a fixed set of words, suggesting the closest for a typo.</summary>
    public string? ReadChoice(YamlNode node, string path, IReadOnlyList<string> choices)
    {
        if (node is YamlScalarNode { Value: { } text } && !IsNull(node) && choices.Contains(text, StringComparer.Ordinal))
        {
            return text;
        }

        var suggestion = node is YamlScalarNode { Value: { } written } ? SpecValues.ClosestMatch(written, choices) : null;
        Report(node, path, $"must be one of {SpecKeys.Join(choices)}, got {Describe(node)}"
            + (suggestion is null ? "" : $"; did you mean '{suggestion}'?"));
        return null;
    }

    /// <summary>Reads a list of text values; an empty value reads as an empty list.</summary>
    public List<string>? ReadStringList(YamlNode node, string path, string example, bool allowEmptyItems = false)
    {
        if (IsNull(node))
        {
            return [];
        }

        if (node is not YamlSequenceNode sequence)
        {
            Report(node, path, $"must be a list such as {example}, got {Describe(node)}");
            return null;
        }

        var items = new List<string>(sequence.Children.Count);
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var itemPath = $"{path}[{i}]";
            var value = ReadString(item, itemPath);
            if (value is null && !IsNull(item))
            {
                continue;
            }

            if (string.IsNullOrWhiteSpace(value) && !allowEmptyItems)
            {
                Report(item, itemPath, $"must not be empty; each item is a text value, as in {example}");
                continue;
            }

            items.Add(value ?? "");
        }

        return items;
    }

    private static bool IsPlain(YamlScalarNode scalar) => scalar.Style is ScalarStyle.Plain or ScalarStyle.Any;
}
