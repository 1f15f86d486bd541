using System.Text;

namespace Backstay.Cli.Tests;

/// <summary>A huge broken spec gets a readable answer: the first 50 problems and how many there are.</summary>
public sealed class ValidateCapTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Validate_FiveMegabytesOfUnknownKeys_PrintsTheFirst50AndTheCount()
    {
        var yaml = new StringBuilder("service: hello\nplatform: { local: {} }\ntask: { image: builtin:hello }\n");
        var keys = 0;
        while (yaml.Length < 5 * 1024 * 1024)
        {
            yaml.Append("unknownKeyNumber").Append(keys++).Append(": 1\n");
        }

        _cli.WriteFile("backstay.yaml", yaml.ToString());
        var result = await _cli.RunAsync(TimeSpan.FromMinutes(3), "validate");
        result.ExitCode.ShouldBe(2);
        result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(51);
        result.Stderr.ShouldContain($"{keys - 50} more problems ({keys} in all");
        result.Stderr.Length.ShouldBeLessThan(50 * 1024);

        var deploy = await _cli.RunAsync(TimeSpan.FromMinutes(3), "deploy");
        deploy.ExitCode.ShouldBe(2);
        deploy.Stderr.Length.ShouldBeLessThan(50 * 1024);
        deploy.Stderr.ShouldContain("more problems");
    }
}
