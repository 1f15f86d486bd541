using System.Security.Cryptography;
using Backstay.Core.Ports;

namespace Backstay.Cli.Infrastructure;

/// <summary>
/// Pins a local image to the SHA-256 of its file: "builtin:NAME" to the shipped sample, a path (relative to the
/// spec file) to its absolute path.
/// </summary>
internal sealed class LocalImageResolver(IReadOnlyDictionary<string, string> builtins) : IImageResolver
{
    public const string BuiltinPrefix = "builtin:";

    public async Task<ResolvedImage> ResolveAsync(ServiceSpec spec, string image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(image);
        string file;
        var resolvedImage = image;
        if (image.StartsWith(BuiltinPrefix, StringComparison.Ordinal))
        {
            var name = image[BuiltinPrefix.Length..];
            if (!builtins.TryGetValue(name, out var path))
            {
                throw new InvalidRequestException($"task.image: there is no built-in image '{name}'; built-in images are: {string.Join(", ", builtins.Keys.Select(k => BuiltinPrefix + k))}.");
            }

            file = path;
        }
        else
        {
            file = PathOf(spec, image);
            resolvedImage = file;
        }

        if (!File.Exists(file))
        {
            // A refusal, not a failure: through a controller this is a 400 with these words, in-process exit code 2.
            throw new InvalidRequestException(Missing(image, file));
        }

        await using var stream = File.OpenRead(file);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken);
        return new ResolvedImage(resolvedImage, "sha256:" + Convert.ToHexStringLower(hash));
    }

    /// <summary>
    /// The file a path image names: relative to the spec file's folder, which a spec that came through the API
    /// carries as BaseDirectory (SourcePath does not travel); the working directory only for a spec without either.
    /// </summary>
    public static string PathOf(ServiceSpec spec, string image)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(image);
        var baseDirectory = spec.BaseDirectory
            ?? (spec.SourcePath is null ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(Path.GetFullPath(spec.SourcePath))!);
        return Path.GetFullPath(image.Split(' ', 2)[0], baseDirectory);
    }

    public static string Missing(string image, string file) =>
        $"task.image: '{image}' does not exist (looked for {file}); give a path to an executable or a .dll, relative to the spec file, or a built-in image such as builtin:hello.";
}
