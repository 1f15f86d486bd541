using System.Reflection;
using Backstay.Cli.Commands;
using Backstay.Core.Ports;

namespace Backstay.Cli;

/// <summary>Entry point of the backstay command.</summary>
internal static class Program
{
    /// <summary>How every error printed to stderr starts.</summary>
    internal const string ErrorPrefix = "error: ";

    public static async Task<int> Main(string[] args)
    {
        if (args is ["--version"])
        {
            // Answered before the command tree is built: CI scripts call it to check the tool, and start-up is what it costs.
            Console.Out.WriteLine(typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");
            return ExitCodes.Succeeded;
        }

        // Tokens, the store and server.json live in the state directory: nothing this process writes is for other users.
        Backstay.Server.Hosting.StateFiles.RestrictNewFiles();
        var root = new RootCommand("Backstay: deploy container services and roll back bad releases in seconds")
        {
            GlobalOptions.State,
            GlobalOptions.Output,
            GlobalOptions.Server,
            GlobalOptions.Token,
            GlobalOptions.Region,
            GlobalOptions.NoColor,
            DemoCommand.Create(),
            ServeCommand.Create(),
            DeployCommand.Create(),
            ReleaseCommand.Create(),
            StatusCommand.Create(),
            HistoryCommand.Create(),
            RevisionsCommand.Create(),
            RollbackCommand.Create(),
            ContinueCommand.Create(),
            StopCommand.Create(),
            ResetCommand.Create(),
            AcknowledgeCommand.Create(),
            ImportCommand.Create(),
            LogsCommand.Create(),
            ValidateCommand.Create(),
            LoadCommand.Create(),
            TokenCommand.Create(),
            CompletionCommand.Create(),
        };

        Help.Install(root);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await Console.Error.WriteLineAsync($"{ErrorPrefix}{error.Message}");
            }

            await Console.Error.WriteLineAsync("Run `backstay --help` for usage.");
            return ExitCodes.InvalidInput;
        }

        Consoles.NoColor = parsed.GetValue(GlobalOptions.NoColor);
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            return Report(ex);
        }
    }

    /// <summary>Turns an exception into one readable message and an exit code.</summary>
    internal static int Report(Exception ex)
    {
        var (code, message) = ex switch
        {
            CliException cli => (cli.ExitCode, cli.Message),
            DeploymentConflictException conflict => (ExitCodes.Conflict, conflict.Message),
            InvalidRequestException invalid => (ExitCodes.InvalidInput, invalid.Message),
            Backstay.Core.Control.DriftException drift => (ExitCodes.Drift, drift.Message),
            PlatformException platform => (ExitCodes.Error, platform.Message),
            OperationCanceledException => (ExitCodes.Interrupted, "Interrupted. Deployments already recorded go on in `backstay serve`; see `backstay status`."),
            _ => (ExitCodes.Error, $"unexpected error: {ex}"),
        };
        Console.Error.WriteLine($"{ErrorPrefix}{message}");
        return code;
    }
}
