using Backstay.Core.Model;

namespace Backstay.Platform.Local;

/// <summary>Turns a revision's image ("builtin:NAME", a .dll, or an executable) into a command line.</summary>
internal static class ImageResolver
{
    public const string BuiltinPrefix = "builtin:";

    public static LaunchSpec Resolve(ServiceSpec spec, Revision revision, IReadOnlyDictionary<string, string> builtins)
    {
        var image = string.IsNullOrWhiteSpace(revision.Image) ? spec.Task.Image : revision.Image;
        var baseDirectory = spec.SourcePath is { Length: > 0 } source
            ? Path.GetDirectoryName(Path.GetFullPath(source)) ?? Directory.GetCurrentDirectory()
            : Directory.GetCurrentDirectory();

        string fileName;
        var args = new List<string>();
        if (image.StartsWith(BuiltinPrefix, StringComparison.Ordinal))
        {
            var name = image[BuiltinPrefix.Length..];
            if (!builtins.TryGetValue(name, out var dll))
            {
                var known = builtins.Count == 0 ? "none are configured" : "known: " + string.Join(", ", builtins.Keys.Order(StringComparer.Ordinal));
                throw new PlatformException($"Service '{spec.Service}': image '{image}' is not a built-in image ({known}).");
            }

            fileName = ProcessLauncher.FindDotnet();
            args.Add(RequireFile(spec.Service, image, Path.GetFullPath(dll)));
        }
        else if (image.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            fileName = ProcessLauncher.FindDotnet();
            args.Add(RequireFile(spec.Service, image, Path.GetFullPath(image, baseDirectory)));
        }
        else
        {
            var path = Path.GetFullPath(image, baseDirectory);
            if (File.Exists(path))
            {
                fileName = path;
            }
            else if (!image.Contains('/', StringComparison.Ordinal) && ProcessLauncher.FindOnPath(image) is { } onPath)
            {
                fileName = onPath;
            }
            else
            {
                throw new PlatformException($"Service '{spec.Service}': image '{image}' was not found (looked for {path}{(image.Contains('/', StringComparison.Ordinal) ? "" : " and on PATH")}); give the path of an executable or .dll, relative to the spec file, or builtin:NAME.");
            }
        }

        args.AddRange(spec.Task.Args);
        return new LaunchSpec
        {
            FileName = fileName,
            Args = args,
            Env = new Dictionary<string, string>(revision.Env, StringComparer.Ordinal),
            WorkingDirectory = baseDirectory,
        };
    }

    private static string RequireFile(string service, string image, string path) => File.Exists(path)
        ? path
        : throw new PlatformException($"Service '{service}': image '{image}' points at {path}, which does not exist; build it first (e.g. dotnet build) or fix the path.");
}
