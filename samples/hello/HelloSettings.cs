using System.Globalization;

namespace Hello;

/// <summary>The sample's knobs, read once from the environment.</summary>
internal sealed record HelloSettings
{
    public int Port { get; init; }
    public string Greeting { get; init; } = "hello";
    public string Revision { get; init; } = "unknown";
    public string Instance { get; init; } = "unknown";
    public double ErrorRate { get; init; }
    public int LatencyMs { get; init; }
    public bool CrashAtStart { get; init; }
    public bool FailHealth { get; init; }
    public int? CrashAfterMs { get; init; }

    /// <summary>Reads and validates the settings; returns the problems found instead of throwing, so each one can be printed.</summary>
    public static (HelloSettings Settings, IReadOnlyList<string> Errors) Read(Func<string, string?> env)
    {
        var errors = new List<string>();
        var port = ParseInt(env, "PORT", errors, min: 1, max: 65535, required: true) ?? 0;
        var errorRate = 0.0;
        var rawRate = env("ERROR_RATE");
        if (!string.IsNullOrWhiteSpace(rawRate))
        {
            if (!double.TryParse(rawRate, NumberStyles.Float, CultureInfo.InvariantCulture, out errorRate)
                || double.IsNaN(errorRate) || errorRate < 0 || errorRate > 1)
            {
                errors.Add($"ERROR_RATE='{rawRate}' is not valid: expected a fraction between 0 and 1, e.g. ERROR_RATE=0.05");
            }
        }

        var settings = new HelloSettings
        {
            Port = port,
            Greeting = NonEmpty(env("GREETING")) ?? "hello",
            Revision = NonEmpty(env("BACKSTAY_REVISION")) ?? "unknown",
            Instance = NonEmpty(env("BACKSTAY_INSTANCE")) ?? "unknown",
            ErrorRate = errorRate,
            LatencyMs = ParseInt(env, "LATENCY_MS", errors, min: 0, max: 600_000, required: false) ?? 0,
            CrashAtStart = ParseBool(env, "CRASH_AT_START", errors),
            FailHealth = ParseBool(env, "FAIL_HEALTH", errors),
            CrashAfterMs = ParseInt(env, "CRASH_AFTER_MS", errors, min: 0, max: int.MaxValue, required: false),
        };
        return (settings, errors);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static int? ParseInt(Func<string, string?> env, string name, List<string> errors, int min, int max, bool required)
    {
        var raw = env(name);
        if (string.IsNullOrWhiteSpace(raw))
        {
            if (required)
            {
                errors.Add($"{name} is not set: expected a whole number between {min} and {max}, e.g. {name}=8080");
            }

            return null;
        }

        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add($"{name}='{raw}' is not valid: expected a whole number between {min} and {max}");
            return null;
        }

        return value;
    }

    private static bool ParseBool(Func<string, string?> env, string name, List<string> errors)
    {
        var raw = env(name);
        if (string.IsNullOrWhiteSpace(raw))
        {
            return false;
        }

        switch (raw.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "yes" or "on":
                return true;
            case "false" or "0" or "no" or "off":
                return false;
            default:
                errors.Add($"{name}='{raw}' is not valid: expected true or false");
                return false;
        }
    }
}
