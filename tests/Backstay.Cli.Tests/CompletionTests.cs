using Backstay.Core.Model;
using Backstay.State.Sqlite;
using Xunit.Abstractions;

namespace Backstay.Cli.Tests;

/// <summary>`backstay completion bash|zsh|fish`: scripts that ask backstay itself (its suggest directive) what may come next.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CompletionTests(ITestOutputHelper output) : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Theory]
    [InlineData("bash", "complete -o default -o nosort -F _backstay_complete backstay")]
    [InlineData("zsh", "compdef _backstay backstay")]
    [InlineData("fish", "complete -c backstay")]
    public async Task Completion_EachShell_PrintsAScriptThatCallsBackBackstay(string shell, string registers)
    {
        var result = await _cli.RunAsync("completion", shell);

        result.ExitCode.ShouldBe(0, result.Stderr);
        result.Stdout.ShouldContain(registers);
        result.Stdout.ShouldContain("[suggest:");
        result.Stdout.ShouldNotContain("\u001b");
    }

    [Fact]
    public async Task Completion_UnknownShell_Exits2NamingTheShells()
    {
        var result = await _cli.RunAsync("completion", "tcsh");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldStartWith("error: ");
        result.Stderr.ShouldContain("tcsh");
    }

    [Fact]
    public async Task Bash_CommandPrefix_CompletesTheCommand()
    {
        (await CompleteInBashAsync("backstay", "dep")).ShouldBe(["deploy"]);
    }

    [Fact]
    public async Task Bash_DoubleDashAfterDeploy_ListsDeploysOptions()
    {
        var options = await CompleteInBashAsync("backstay", "deploy", "--");

        options.ShouldContain("--file");
        options.ShouldContain("--image");
        options.ShouldContain("--no-wait");
        options.ShouldContain("--state");
        options.ShouldAllBe(o => o.StartsWith("--"));
    }

    [Fact]
    public async Task Bash_ServiceArgument_CompletesServiceNamesFromTheStateDirectory()
    {
        await using (var store = new SqliteStateStore(_cli.StateDirectory, TimeProvider.System))
        {
            await store.InitializeAsync(CancellationToken.None);
            foreach (var name in new[] { "hello", "web", "worker" })
            {
                await store.UpsertServiceAsync(new ServiceRecord { Name = name, Platform = "local" }, CancellationToken.None);
            }
        }

        (await CompleteInBashAsync("backstay", "history", "w")).ShouldBe(["web", "worker"]);
        (await CompleteInBashAsync("backstay", "rollback", "h")).ShouldBe(["hello"]);
        (await CompleteInBashAsync("backstay", "status", "--state", _cli.StateDirectory, "he")).ShouldBe(["hello"]);
        (await CompleteInBashAsync("backstay", "--state", Path.Combine(_cli.WorkDirectory, "elsewhere"), "status", "")).ShouldNotContain("hello");
    }

    [Theory]
    [InlineData("zsh")]
    [InlineData("fish")]
    public async Task Script_OtherShells_IsSyntacticallyValid(string shell)
    {
        if (Which(shell) is null)
        {
            output.WriteLine($"SKIPPED: {shell} is not installed, so its completion script was not checked with `{shell} -n` (apt-get install -y {shell})");
            return;
        }

        var script = _cli.WriteFile($"backstay.{shell}", (await _cli.RunAsync("completion", shell)).Stdout);

        var check = await _cli.RunProgramAsync(TimeSpan.FromSeconds(30), shell, "-n", script);

        check.ExitCode.ShouldBe(0, check.Stderr);
        check.Stderr.ShouldBeEmpty();
    }

    [Fact]
    public async Task Fish_CommandPrefix_CompletesTheCommand()
    {
        if (Which("fish") is null)
        {
            output.WriteLine("SKIPPED: fish is not installed (apt-get install -y fish)");
            return;
        }

        var script = _cli.WriteFile("backstay.fish", (await _cli.RunAsync("completion", "fish")).Stdout);
        OnPath();

        var result = await _cli.RunProgramAsync(TimeSpan.FromSeconds(60), "fish", "--no-config", "-c", $"source {script}; complete -C 'backstay dep'");

        result.ExitCode.ShouldBe(0, result.Stderr);
        result.Stdout.Split('\n').Select(l => l.Split('\t')[0]).ShouldContain("deploy");
    }

    /// <summary>Sources the bash script in a real bash, sets COMP_WORDS and COMP_CWORD (the last word is the one completed) and returns COMPREPLY.</summary>
    private async Task<string[]> CompleteInBashAsync(params string[] words)
    {
        var script = _cli.WriteFile("backstay.bash", (await _cli.RunAsync("completion", "bash")).Stdout);
        OnPath();
        var quoted = string.Join(' ', words.Select(w => "'" + w.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        var result = await _cli.RunProgramAsync(TimeSpan.FromSeconds(60), "bash", "-c",
            $"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={words.Length - 1}; _backstay_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\"");
        result.ExitCode.ShouldBe(0, result.Stderr);
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Puts a `backstay` that runs the built CLI first on the PATH of the processes the runner starts.</summary>
    private void OnPath()
    {
        var bin = Path.Combine(_cli.WorkDirectory, "bin");
        var wrapper = Path.Combine(bin, "backstay");
        if (!File.Exists(wrapper))
        {
            Directory.CreateDirectory(bin);
            File.WriteAllText(wrapper, $"#!/bin/sh\nexec dotnet '{CliRunner.BackstayDll}' \"$@\"\n");
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        _cli.Environment["PATH"] = bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
}
