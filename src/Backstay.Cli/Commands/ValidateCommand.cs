namespace Backstay.Cli.Commands;

/// <summary>`backstay validate [-f FILE]`: checks a spec and prints every problem with file, line and key.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var file = new Option<string>("--file", "-f") { Description = "Spec file", DefaultValueFactory = _ => "backstay.yaml" };
        var command = new Command("validate", "Validate a spec file") { file };
        command.SetAction((result, _) =>
        {
            var path = result.GetValue(file)!;
            IReadOnlyList<SpecError> errors;
            try
            {
                var spec = SpecLoader.Load(path);
                errors = MissingImage(spec, path) is { } missing ? [missing] : [];
            }
            catch (SpecException ex)
            {
                errors = ex.Errors;
            }

            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(
                    new ValidateReport(Reports.SchemaVersion, path, errors.Count == 0, errors.Count, errors.Take(SpecException.MaxShown).ToList()), Reports.Json));
            }
            else if (errors.Count == 0)
            {
                Consoles.Human.MarkupLine($"[green]{Markup.Escape(path)} is valid.[/]");
            }
            else
            {
                // One prefix for every error the command line prints, one problem a line.
                Console.Error.WriteLine(string.Join(Environment.NewLine, SpecException.Describe(errors).Split(Environment.NewLine).Select(line => $"{Program.ErrorPrefix}{line}")));
            }

            return Task.FromResult(errors.Count == 0 ? ExitCodes.Succeeded : ExitCodes.InvalidInput);
        });
        return command;
    }

    /// <summary>A local image given as a path must exist next to the spec, as deploy will look for it there.</summary>
    private static SpecError? MissingImage(ServiceSpec spec, string path)
    {
        var image = spec.Task.Image;
        if (spec.Platform.Local is null || image.StartsWith(LocalImageResolver.BuiltinPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var file = LocalImageResolver.PathOf(spec, image);
        return File.Exists(file)
            ? null
            : new SpecError(path, 0, 0, "task.image",
                $"'{image}' does not exist (looked for {file}, relative to the spec file's folder); give a path to an executable or a .dll, or a built-in image such as builtin:hello");
    }
}
