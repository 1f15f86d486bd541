namespace Backstay.Cli.Commands;

/// <summary>`backstay completion bash|zsh|fish`: prints the shell's completion script (see README, Shell completion).</summary>
internal static class CompletionCommand
{
    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash, zsh or fish" };
        shell.AcceptOnlyFromAmong(Completions.Shells);
        var command = new Command("completion", "Print the shell completion script for bash, zsh or fish (commands, options, service names and deployment ids)") { shell };
        command.SetAction(result =>
        {
            Console.Out.Write(Completions.Script(result.GetValue(shell)!));
            return ExitCodes.Succeeded;
        });
        return command;
    }
}
