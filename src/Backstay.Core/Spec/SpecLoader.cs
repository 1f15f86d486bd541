namespace Backstay.Core.Spec;

/// <summary>Reads and validates backstay.yaml, reporting every problem with its file, line, column and key.</summary>
public static class SpecLoader
{
    /// <summary>The file name Backstay looks for by default.</summary>
    public const string DefaultFileName = "backstay.yaml";

    /// <summary>The keys allowed at the top level of a spec.</summary>
    public static IReadOnlyList<string> TopLevelKeys => SpecKeys.Root;

    /// <summary>Reads the spec file at <paramref name="path"/>; throws <see cref="SpecException"/> with every problem found.</summary>
    public static ServiceSpec Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(ReadFile(path), path);
    }

    /// <summary>Reads a spec from YAML text; throws <see cref="SpecException"/> with every problem found.</summary>
    public static ServiceSpec Parse(string yaml, string fileName)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(fileName);
        var reader = new SpecReader(fileName);
        var spec = reader.Read(yaml) ?? throw new SpecException(reader.Errors);
        return spec with { SourcePath = fileName, BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(fileName)) };
    }

    /// <summary>Checks a spec without throwing; the list is empty when the spec is valid.</summary>
    public static IReadOnlyList<SpecError> Validate(string yaml, string fileName)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(fileName);
        var reader = new SpecReader(fileName);
        reader.Read(yaml);
        return reader.Errors;
    }

    /// <summary>
    /// Checks a spec that arrived as records (the REST API's JSON) with the reader `validate` uses, by writing it
    /// out as YAML first; throws <see cref="SpecException"/> with every problem (keys as in the file, no lines),
    /// else returns the spec as a file with the same values reads, with defaults filled in.
    /// </summary>
    public static ServiceSpec Check(ServiceSpec spec, string origin)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(origin);
        var reader = new SpecReader(origin);
        var checkedSpec = reader.Read(SpecWriter.Write(spec));
        if (checkedSpec is null)
        {
            // Lines of the written text mean nothing to the sender; the key path says where.
            throw new SpecException(reader.Errors.Select(e => e with { Line = 0, Column = 0 }).ToList());
        }

        return checkedSpec with { SourcePath = spec.SourcePath, BaseDirectory = spec.BaseDirectory };
    }

    private static string ReadFile(string path)
    {
        if (Directory.Exists(path))
        {
            throw FileError(path, $"is a directory; pass the spec file itself, e.g. {Path.Combine(path, DefaultFileName)}");
        }

        if (!File.Exists(path))
        {
            throw FileError(path,
                $"file not found; create a {DefaultFileName} with at least `service: hello`, `platform: {{ local: {{}} }}` and `task: {{ image: builtin:hello }}` (docs/spec.md describes every key)");
        }

        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileError(path, $"cannot be read: {ex.Message}");
        }
    }

    private static SpecException FileError(string path, string message) =>
        new([new SpecError(path, 0, 0, "(file)", message)]);
}
