namespace Backstay.Platform.Local;

/// <summary>How to start an instance of a revision; persisted so a later Backstay process can restart it.</summary>
internal sealed record LaunchSpec
{
    public required string FileName { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);
    public required string WorkingDirectory { get; init; }
}
