namespace Backstay.Cli.Tests;

/// <summary>What a well-behaved command line does: durations as in the spec, honest help, no colour codes in pipes, one error prefix.</summary>
public sealed class CliCitizenTests : IDisposable
{
    private const string Escape = "\u001b[";
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Theory]
    [InlineData("500ms")]
    [InlineData("1s")]
    public async Task Load_DurationInTheSpecsFormat_RunsThatLong(string duration)
    {
        var port = CliRunner.FreePort();

        var result = await _cli.RunAsync("load", $"http://127.0.0.1:{port}/", "--rate", "10", "--duration", duration, "-o", "json");

        result.ExitCode.ShouldBe(0, result.Stderr);
        result.Stdout.ShouldContain("\"requests\"");
    }

    [Fact]
    public async Task Load_BadDuration_NamesTheOptionAndTheFormAndExits2()
    {
        var result = await _cli.RunAsync("load", "http://127.0.0.1:1/", "--duration", "2x");

        result.ExitCode.ShouldBe(2, result.Stdout + result.Stderr);
        result.Stderr.ShouldStartWith("error: ");
        result.Stderr.ShouldContain("--duration '2x'");
        result.Stderr.ShouldContain("500ms");
    }

    [Theory]
    [InlineData("status", "[<service>]")]
    [InlineData("rollback", "[<targets>...]")]
    public async Task Help_OptionalArgument_IsShownAsOptionalUnderArguments(string command, string shown)
    {
        var result = await _cli.RunAsync(command, "--help");

        result.ExitCode.ShouldBe(0, result.Stderr);
        var arguments = result.Stdout.Split('\n').SkipWhile(l => l != "Arguments:").Skip(1).First();
        arguments.ShouldStartWith($"  {shown}  ");
    }

    [Fact]
    public async Task Help_Deploy_ListsTheExitCodesAsTheReadmeDoes()
    {
        var readme = File.ReadAllLines(Path.Combine(CliRunner.RepositoryRoot(), "README.md"));
        var table = readme.SkipWhile(l => l != "## Exit codes").Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\| +\d+ \|"))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).Select(c => (Code: c[1], Meaning: c[2])).ToList();
        table.Count.ShouldBe(11);

        var result = await _cli.RunAsync("deploy", "--help");

        result.ExitCode.ShouldBe(0, result.Stderr);
        var help = result.Stdout[result.Stdout.IndexOf("Exit codes:", StringComparison.Ordinal)..];
        foreach (var (code, meaning) in table)
        {
            help.ShouldContain($"  {code.PadRight(5)}{meaning}\n");
        }

        (await _cli.RunAsync("status", "--help")).Stdout.ShouldNotContain("Exit codes:");
    }

    [Theory]
    [InlineData("TERM", "xterm-256color", "--no-color")]
    [InlineData("NO_COLOR", "1", null)]
    [InlineData("TERM", "xterm-256color", null)]
    public async Task HumanOutput_ThroughAPipe_HasNoColourCodes(string variable, string value, string? option)
    {
        // Coloured output: bold in the empty status, red errors in validate.
        _cli.Environment["NO_COLOR"] = null;
        _cli.Environment["TERM"] = "xterm-256color";
        _cli.Environment[variable] = value;
        var path = _cli.WriteFile("bad.yaml", "service: hello\nplatform: { local: { instances: abc } }\ntask: { image: builtin:hello }\n");
        string[] extra = option is null ? [] : [option];

        var status = await _cli.RunAsync(["status", .. extra]);
        var validate = await _cli.RunAsync(["validate", "-f", path, .. extra]);
        var valid = await _cli.RunAsync(["validate", "-f", _cli.WriteFile("good.yaml", "service: hello\nplatform: { local: { instances: 1 } }\ntask: { image: builtin:hello }\n"), .. extra]);

        status.ExitCode.ShouldBe(0, status.Stderr);
        status.Stdout.ShouldContain("No services yet");
        validate.ExitCode.ShouldBe(2, validate.Stderr);
        valid.ExitCode.ShouldBe(0, valid.Stderr);
        foreach (var output in new[] { status.Stdout, status.Stderr, validate.Stdout, validate.Stderr, valid.Stdout, valid.Stderr })
        {
            output.ShouldNotContain(Escape);
        }
    }

    [Fact]
    public async Task BadInput_EveryExit2Error_StartsWithTheSamePrefix()
    {
        var spec = _cli.WriteFile("backstay.yaml", "service: hello\nplatform: { local: { instances: 1 } }\ntask: { image: builtin:hello }\n");
        var bad = _cli.WriteFile("bad.yaml", "service: hello\nplatform: { local: { instances: abc } }\ntask: { image: builtin:hello }\n");
        string[][] cases =
        [
            ["validate", "-f", bad],
            ["deploy", "-f", bad],
            ["deploy", "-f", spec, "--env", "NOEQUALS"],
            ["deploy", "--frobnicate"],
            ["history", "nosuch"],
            ["load", "not a url"],
            ["load", "http://127.0.0.1:1/", "--duration", "soon"],
            ["load", "http://127.0.0.1:1/", "--rate", "0"],
            ["status", "--output", "yaml"],
            ["continue", "d-NOSUCH123"],
        ];

        foreach (var args in cases)
        {
            var result = await _cli.RunAsync(args);

            result.ExitCode.ShouldBe(2, $"{string.Join(' ', args)}: {result.Stderr}");
            result.Stderr.ShouldStartWith("error: ", customMessage: string.Join(' ', args));
        }
    }
}
