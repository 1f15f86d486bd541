namespace Backstay.Core.Engine;

/// <summary>Small pieces of the engine's messages, so that every event says a thing the same way.</summary>
internal static class Wording
{
    /// <summary>A traffic split as "revision 1 90%, revision 2 10%".</summary>
    public static string Split(IReadOnlyDictionary<int, int> weights) =>
        weights.Count == 0 ? "no revision" : string.Join(", ", weights.OrderBy(w => w.Key).Select(w => $"revision {w.Key} {w.Value}%"));

    /// <summary>": reason", or nothing when there is none.</summary>
    public static string Because(string? reason) => string.IsNullOrWhiteSpace(reason) ? "" : $": {reason.Trim()}";

    /// <summary>" (last error: …)", or nothing when there is none.</summary>
    public static string Detail(string? error) => string.IsNullOrWhiteSpace(error) ? "" : $" (last error: {error.Trim()})";
}
