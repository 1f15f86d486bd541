using Backstay.Core.Spec;

namespace Backstay.Core.Releases;

/// <summary>
/// Reads a release file and the spec of each of its services (paths relative to the release file), and checks the
/// whole: every problem has its file, line and key, and nothing is deployed unless there is none.
/// </summary>
public static class ReleaseLoader
{
    /// <summary>Reads the release file at <paramref name="path"/>; throws <see cref="SpecException"/> with every problem found in it and in its specs.</summary>
    public static ReleaseRequest Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new SpecException([new SpecError(path, 0, 0, "(file)",
                Directory.Exists(path) ? "is a directory; pass the release file itself, e.g. release.yaml"
                    : "file not found; a release file names its services' specs, e.g. `release: checkout` and `services: [ { spec: api/backstay.yaml } ]` (docs/releases.md)")]);
        }

        var reader = new SpecReader(path);
        var draft = reader.ReadReleaseDraft(File.ReadAllText(path));
        if (draft is null)
        {
            throw new SpecException(reader.Errors);
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var errors = new List<SpecError>();
        var services = new List<ReleaseServiceRequest>();
        var entries = new List<SpecReader.ReleaseEntry>();
        foreach (var entry in draft.Entries)
        {
            var specPath = Path.IsPathRooted(entry.SpecPath) ? entry.SpecPath : Path.Combine(directory, entry.SpecPath);
            if (Directory.Exists(specPath))
            {
                specPath = Path.Combine(specPath, SpecLoader.DefaultFileName);
            }

            if (!File.Exists(specPath))
            {
                reader.Report(entry.SpecNode, $"{entry.Path}.spec", $"no spec file at {specPath}; give the path of the service's backstay.yaml, relative to {path}");
                continue;
            }

            try
            {
                var spec = SpecLoader.Load(specPath);
                services.Add(new ReleaseServiceRequest
                {
                    Spec = spec,
                    Image = entry.Image,
                    Env = entry.Env,
                    DependsOn = [.. entry.DependsOn.Select(d => d.Name)],
                });
                entries.Add(entry);
            }
            catch (SpecException ex)
            {
                errors.AddRange(ex.Errors);
            }
        }

        if (reader.Errors.Count == 0 && errors.Count == 0)
        {
            foreach (var problem in ReleaseGraph.Check([.. services.Select(s => (s.Spec.Service, s.Spec.Platform.Kind, s.DependsOn))]))
            {
                var node = problem.Index < 0 ? draft.ServicesNode : NodeOf(entries[problem.Index], problem.Key);
                reader.Report(node, ToFileKey(problem, entries), problem.Message);
            }
        }

        errors.InsertRange(0, reader.Errors);
        if (errors.Count > 0)
        {
            throw new SpecException(errors);
        }

        return new ReleaseRequest { Release = draft.Name, OnFailure = draft.OnFailure, Services = services };
    }

    /// <summary>Where in the file a graph problem points: the dependsOn item it names, else the entry's spec.</summary>
    private static YamlDotNet.RepresentationModel.YamlNode NodeOf(SpecReader.ReleaseEntry entry, string key)
    {
        var open = key.LastIndexOf('[');
        if (key.Contains(".dependsOn[", StringComparison.Ordinal) && int.TryParse(key[(open + 1)..^1], out var item) && item < entry.DependsOn.Count)
        {
            return entry.DependsOn[item].Node;
        }

        // A cycle is about the entry's dependsOn as a whole: its first item.
        return key.EndsWith(".dependsOn", StringComparison.Ordinal) && entry.DependsOn.Count > 0 ? entry.DependsOn[0].Node : entry.SpecNode;
    }

    /// <summary>Graph problems are numbered over the services that loaded; the file's own numbering is kept in the entry.</summary>
    private static string ToFileKey(ReleaseGraph.Problem problem, IReadOnlyList<SpecReader.ReleaseEntry> entries) =>
        problem.Index < 0 ? problem.Key : entries[problem.Index].Path + problem.Key[problem.Key.IndexOf('.', StringComparison.Ordinal)..];
}
