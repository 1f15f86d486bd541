using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;

namespace Backstay.Cli.Infrastructure;

/// <summary>
/// System.CommandLine's help, with optional arguments shown as such in the Arguments section (`[&lt;service&gt;]`, as the
/// usage line has them) and, for the commands that end with a deployment's outcome, the exit codes.
/// </summary>
internal sealed class Help(HelpAction standard) : SynchronousCommandLineAction
{
    /// <summary>The commands whose exit code is a deployment's outcome.</summary>
    private static readonly HashSet<string> WithExitCodes = new(["deploy", "release", "continue", "rollback", "stop", "reset"], StringComparer.Ordinal);

    /// <summary>Puts this help in place of the standard one of the root command (its help option is recursive).</summary>
    public static void Install(RootCommand root)
    {
        foreach (var option in root.Options)
        {
            if (option is HelpOption { Action: HelpAction standard } help)
            {
                help.Action = new Help(standard);
            }
        }
    }

    public override int Invoke(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var configuration = parseResult.InvocationConfiguration;
        var output = configuration.Output;
        using var captured = new StringWriter(CultureInfo.InvariantCulture);
        configuration.Output = captured;
        int code;
        try
        {
            code = standard.Invoke(parseResult);
        }
        finally
        {
            configuration.Output = output;
        }

        var command = parseResult.CommandResult.Command;
        output.Write(WithOptionalArguments(captured.ToString(), command));
        if (WithExitCodes.Contains(command.Name))
        {
            output.WriteLine("Exit codes:");
            var width = ExitCodes.Meanings.Max(m => m.Code.ToString(CultureInfo.InvariantCulture).Length) + 2;
            foreach (var (exit, meaning) in ExitCodes.Meanings)
            {
                output.WriteLine($"  {exit.ToString(CultureInfo.InvariantCulture).PadRight(width)}{meaning}");
            }

            output.WriteLine();
        }

        return code;
    }

    /// <summary>The Arguments section written again, with `[&lt;name&gt;]` (or `[&lt;name&gt;...]`) for an argument that may be left out.</summary>
    private static string WithOptionalArguments(string help, Command command)
    {
        var arguments = command.Arguments.Where(a => !a.Hidden).ToList();
        if (!arguments.Any(a => a.Arity.MinimumNumberOfValues == 0))
        {
            return help;
        }

        var lines = help.Split('\n').ToList();
        var start = lines.FindIndex(l => l.TrimEnd('\r') == "Arguments:");
        if (start < 0)
        {
            return help;
        }

        var end = lines.FindIndex(start, l => l.TrimEnd('\r').Length == 0);
        end = end < 0 ? lines.Count : end;
        var labels = arguments.Select(a => (Label: Label(a), a.Description)).ToList();
        var width = labels.Max(l => l.Label.Length);
        lines.RemoveRange(start + 1, end - start - 1);
        lines.InsertRange(start + 1, labels.Select(l => $"  {l.Label.PadRight(width)}  {l.Description}".TrimEnd()));
        return string.Join('\n', lines);
    }

    private static string Label(Argument argument)
    {
        var name = $"<{argument.HelpName ?? argument.Name}>";
        var many = argument.Arity.MaximumNumberOfValues > 1 ? "..." : "";
        return argument.Arity.MinimumNumberOfValues == 0 ? $"[{name}{many}]" : $"{name}{many}";
    }
}
