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

    public static readonly Option<string?> Server = new("--server")
    {
        Description = "URL of a Backstay controller (default: $BACKSTAY_SERVER, or the `backstay serve` running on the state directory)",
        Recursive = true,
    };

    public static readonly Option<string?> Token = new("--token")
    {
        Description = "API token for --server (default: $BACKSTAY_TOKEN, or <state>/token)",
        Recursive = true,
    };

    public static readonly Option<string?> Region = new("--region")
    {
        Description = "AWS region for ECS services (default: the spec's, then AWS_REGION / AWS_DEFAULT_REGION / the profile's)",
        Recursive = true,
    };

    public static readonly Option<bool> NoColor = new("--no-color")
    {
        Description = "No colour in human output (also when $NO_COLOR is set); output that is not a terminal never has escape codes",
        Recursive = true,
    };

    static GlobalOptions()
    {
        Output.AcceptOnlyFromAmong("human", "json");
    }

    public static bool Json(ParseResult result) => result.GetValue(Output) == "json";

    public static StateDirectory StateDirectory(ParseResult result) => new(result.GetValue(State));
}
