using System.Globalization;
using System.Text.RegularExpressions;

namespace Backstay.Core.Spec;

/// <summary>Parsing of the text forms backstay.yaml uses for durations, percentages and names.</summary>
internal static partial class SpecValues
{
    /// <summary>Timers take at most about 49 days; a month leaves room and is longer than any sane wait.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(30);

    public const string DurationExamples = "500ms, 10s, 5m, 1h or 1m30s";

    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var match = DurationPattern().Match(text);
        if (!match.Success)
        {
            return false;
        }

        var milliseconds = 0.0;
        var amounts = match.Groups["amount"].Captures;
        var units = match.Groups["unit"].Captures;
        for (var i = 0; i < amounts.Count; i++)
        {
            var amount = double.Parse(amounts[i].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            milliseconds += units[i].Value switch
            {
                "ms" => amount,
                "s" => amount * 1_000,
                "m" => amount * 60_000,
                _ => amount * 3_600_000,
            };
        }

        if (double.IsInfinity(milliseconds) || milliseconds > MaxDuration.TotalMilliseconds)
        {
            value = TimeSpan.MaxValue;
            return true;
        }

        value = TimeSpan.FromMilliseconds(milliseconds);
        return true;
    }

    public static bool IsNumber(string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);

    /// <summary>Reads "1%", "0.5%" or a fraction such as "0.01" into a fraction; range is the caller's business.</summary>
    public static bool TryParseFraction(string text, out double fraction, out bool hadPercentSign)
    {
        var trimmed = text.Trim();
        hadPercentSign = trimmed.EndsWith('%');
        var number = hadPercentSign ? trimmed[..^1].TrimEnd() : trimmed;
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var parsed))
        {
            fraction = 0;
            return false;
        }

        fraction = hadPercentSign ? parsed / 100 : parsed;
        return true;
    }

    /// <summary>Formats a duration the way the spec writes it, for messages.</summary>
    public static string FormatDuration(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        if (value.TotalSeconds < 1 || value.Milliseconds != 0)
        {
            return value.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + "ms";
        }

        var parts = new List<string>(3);
        if ((int)value.TotalHours > 0)
        {
            parts.Add($"{(int)value.TotalHours}h");
        }

        if (value.Minutes > 0)
        {
            parts.Add($"{value.Minutes}m");
        }

        if (value.Seconds > 0)
        {
            parts.Add($"{value.Seconds}s");
        }

        return string.Concat(parts);
    }

    public static bool IsServiceName(string text) => ServiceNamePattern().IsMatch(text);

    /// <summary>A valid service name close to what was written, to offer in the message.</summary>
    public static string? SuggestServiceName(string text)
    {
        var lowered = InvalidServiceNameChars().Replace(text.ToLowerInvariant(), "-").Trim('-');
        if (lowered.Length > 63)
        {
            lowered = lowered[..63].TrimEnd('-');
        }

        return lowered.Length > 0 && IsServiceName(lowered) ? lowered : null;
    }

    public static bool IsEnvironmentName(string text) => EnvironmentNamePattern().IsMatch(text);

    /// <summary>The candidate closest to what was written, when it is close enough to be a typo.</summary>
    public static string? ClosestMatch(string written, IEnumerable<string> candidates, int maxDistance = 2)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(written.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return bestDistance <= maxDistance ? best : null;
    }

    /// <summary>Levenshtein distance: single-character insertions, deletions and substitutions.</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), substitution);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    [GeneratedRegex(@"^(?:(?<amount>\d+(?:\.\d+)?)(?<unit>ms|h|m|s))+$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex ServiceNamePattern();

    [GeneratedRegex("[^a-z0-9-]+", RegexOptions.CultureInvariant)]
    private static partial Regex InvalidServiceNameChars();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvironmentNamePattern();
}
