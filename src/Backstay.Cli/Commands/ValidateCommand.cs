using System.CommandLine;
using System.Text.Json;
using Backstay.Cli.Infrastructure;
using Backstay.Core.Spec;
using Spectre.Console;

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
                SpecLoader.Load(path);
                errors = [];
            }
            catch (SpecException ex)
            {
                errors = ex.Errors;
            }

            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new { file = path, valid = errors.Count == 0, errors }, Reports.Json));
            }
            else if (errors.Count == 0)
            {
                Consoles.Human.MarkupLine($"[green]{Markup.Escape(path)} is valid.[/]");
            }
            else
            {
                foreach (var error in errors)
                {
                    Console.Error.WriteLine(error.ToString());
                }
            }

            return Task.FromResult(errors.Count == 0 ? ExitCodes.Succeeded : ExitCodes.InvalidInput);
        });
        return command;
    }
}
