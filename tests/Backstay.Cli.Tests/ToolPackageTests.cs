namespace Backstay.Cli.Tests;

/// <summary>Backstay installed the way .NET tools are: `dotnet pack`, then `dotnet tool install` from that package alone.</summary>
public sealed class ToolPackageTests : IDisposable
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);

    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Pack_ThenToolInstallFromThePackageAlone_RunsVersionAndValidate()
    {
        var repository = CliRunner.RepositoryRoot();
        var packages = Path.Combine(_cli.WorkDirectory, "packages");
        var tools = Path.Combine(_cli.WorkDirectory, "tools");

        var pack = await _cli.RunProgramAsync(PackTimeout, "dotnet", "pack", Path.Combine(repository, "src", "Backstay.Cli"), "-c", "Release", "-o", packages, "-nologo");
        pack.ExitCode.ShouldBe(0, pack.Stdout + pack.Stderr);
        Directory.GetFiles(packages, "backstay.*.nupkg").ShouldHaveSingleItem();

        // Only the package just made is a source: the tool must carry everything it needs.
        var config = Path.Combine(_cli.WorkDirectory, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="backstay" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        var install = await _cli.RunProgramAsync(PackTimeout, "dotnet", "tool", "install", "backstay", "--tool-path", tools, "--configfile", config);
        install.ExitCode.ShouldBe(0, install.Stdout + install.Stderr);

        var backstay = Path.Combine(tools, "backstay");
        var version = await _cli.RunProgramAsync(TimeSpan.FromSeconds(60), backstay, "--version");
        version.ExitCode.ShouldBe(0, version.Stderr);
        version.Stdout.ShouldStartWith("0.1.0+");

        var valid = await _cli.RunProgramAsync(TimeSpan.FromSeconds(60), backstay, "validate", "-f", Path.Combine(repository, "samples", "hello", "backstay.yaml"));
        valid.ExitCode.ShouldBe(0, valid.Stdout + valid.Stderr);
        valid.Stdout.ShouldContain("is valid");

        await File.WriteAllTextAsync(Path.Combine(_cli.WorkDirectory, "bad.yaml"), "service: web\nplatform: { local: { instances: -1 } }\ntask: { image: builtin:hello }\n");
        var invalid = await _cli.RunProgramAsync(TimeSpan.FromSeconds(60), backstay, "validate", "-f", "bad.yaml");
        invalid.ExitCode.ShouldBe(2, invalid.Stdout + invalid.Stderr);
        (invalid.Stdout + invalid.Stderr).ShouldContain("instances");
    }
}
