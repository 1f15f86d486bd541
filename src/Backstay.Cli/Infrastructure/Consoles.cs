using Spectre.Console;

namespace Backstay.Cli.Infrastructure;

/// <summary>The console for human output; wide when redirected so progress lines are not wrapped at 80 columns.</summary>
internal static class Consoles
{
    public static IAnsiConsole Human { get; } = Create();

    private static IAnsiConsole Create()
    {
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = 240;
        }

        return console;
    }
}
