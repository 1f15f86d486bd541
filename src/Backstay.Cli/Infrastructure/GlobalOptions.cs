using System.CommandLine;

namespace Backstay.Cli.Infrastructure;

/// <summary>Options every command takes.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string?> State = new("--state")
    {
        Description = "State directory (default: ./.backstay, or $BACKSTAY_STATE)",
        Recursive = true,
    };

    public static readonly Option<string> Output = new("--output", "-o")
    {
        Description = "Output format: human or json",
        DefaultValueFactory = _ => "human",
        Recursive = true,
    };

    static GlobalOptions()
    {
        Output.AcceptOnlyFromAmong("human", "json");
    }

    public static bool Json(ParseResult result) => result.GetValue(Output) == "json";

    public static StateDirectory StateDirectory(ParseResult result) => new(result.GetValue(State));
}
