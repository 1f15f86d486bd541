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
}
