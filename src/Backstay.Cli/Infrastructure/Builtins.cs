namespace Backstay.Cli.Infrastructure;

/// <summary>Images shipped with Backstay: the hello sample sits next to the CLI.</summary>
internal static class Builtins
{
    public static IReadOnlyDictionary<string, string> Images { get; } = new Dictionary<string, string>
    {
        ["hello"] = Path.Combine(AppContext.BaseDirectory, "hello.dll"),
    };
}
