namespace Backstay.Cli.Infrastructure;

/// <summary>
/// The console for human output. A pipe or a file gets no escape codes at all; a terminal gets colour unless `NO_COLOR`
/// (any non-empty value) or `--no-color` asks for none. Wide when redirected so progress lines are not wrapped at 80 columns.
/// </summary>
internal static class Consoles
{
    private static readonly Lazy<IAnsiConsole> Console = new(Create);

    /// <summary>Set from `--no-color` before a command runs.</summary>
    public static bool NoColor { get; set; }

    public static IAnsiConsole Human => Console.Value;

    /// <summary>No colour: asked for with `--no-color` or `NO_COLOR`, or output that is not a terminal.</summary>
    public static bool Colourless => NoColor || System.Console.IsOutputRedirected || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    private static IAnsiConsole Create()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            // A terminal keeps escape codes without colour (bold, and the interactive rollback picker needs them); a pipe gets none.
            Ansi = System.Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Colourless ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Out = new AnsiConsoleOutput(System.Console.Out),
        });
        if (System.Console.IsOutputRedirected)
        {
            console.Profile.Width = 240;
        }

        return console;
    }
}
