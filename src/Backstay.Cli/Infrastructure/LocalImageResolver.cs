using System.Security.Cryptography;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

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
                throw new CliException($"task.image: there is no built-in image '{name}'; built-in images are: {string.Join(", ", builtins.Keys.Select(k => BuiltinPrefix + k))}.");
            }

            file = path;
        }
        else
        {
            var baseDirectory = spec.SourcePath is null ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(Path.GetFullPath(spec.SourcePath))!;
            var first = image.Split(' ', 2)[0];
            file = Path.GetFullPath(first, baseDirectory);
            resolvedImage = file;
        }

        if (!File.Exists(file))
        {
            throw new CliException($"task.image: '{image}' does not exist (looked for {file}); give a path to an executable or a .dll, relative to the spec file, or a built-in image such as builtin:hello.");
        }

        await using var stream = File.OpenRead(file);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken);
        return new ResolvedImage(resolvedImage, "sha256:" + Convert.ToHexStringLower(hash));
    }
}
