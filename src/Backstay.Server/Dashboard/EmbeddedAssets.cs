using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Backstay.Server.Dashboard;

/// <summary>The dashboard's files, embedded in the assembly (wwwroot/), with a content hash as their ETag.</summary>
internal static class EmbeddedAssets
{
    private static readonly ConcurrentDictionary<string, Asset?> Cache = new(StringComparer.Ordinal);

    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".json"] = "application/json; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".ico"] = "image/x-icon",
    };

    /// <summary>A file under wwwroot/, or null when there is none by that name.</summary>
    public static Asset? Get(string name) => Cache.GetOrAdd(name, Load);

    public static Stream? Open(string name) => Get(name) is { } asset ? new MemoryStream(asset.Content, writable: false) : null;

    public static IEnumerable<string> Names =>
        typeof(EmbeddedAssets).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("wwwroot/", StringComparison.Ordinal))
            .Select(n => n["wwwroot/".Length..]);

    private static Asset? Load(string name)
    {
        if (name.Contains("..", StringComparison.Ordinal) || name.StartsWith('/'))
        {
            return null;
        }

        using var stream = typeof(EmbeddedAssets).Assembly.GetManifestResourceStream("wwwroot/" + name);
        if (stream is null)
        {
            return null;
        }

        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var content = copy.ToArray();
        var type = ContentTypes.GetValueOrDefault(Path.GetExtension(name), "application/octet-stream");
        return new Asset(content, type, "\"" + Convert.ToHexStringLower(SHA256.HashData(content))[..16] + "\"");
    }
}

/// <summary>One embedded file.</summary>
internal sealed record Asset(byte[] Content, string ContentType, string ETag);
