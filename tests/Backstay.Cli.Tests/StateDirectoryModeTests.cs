namespace Backstay.Cli.Tests;

/// <summary>What the real CLI leaves in the state directory, and where it looks for a relative image.</summary>
[Collection("serve")]
public sealed class StateDirectoryModeTests : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly int _prod = CliRunner.FreePort();

    public void Dispose() => _cli.Dispose();

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task ServeAndDeploy_RelativeImageNextToTheSpec_IsFound_AndEveryStateFileIsOwnerOnly()
    {
        // The spec and its image live in a folder of their own; serve runs from another one.
        var app = Path.Combine(_cli.WorkDirectory, "app");
        Directory.CreateDirectory(app);
        foreach (var file in new[] { "hello.dll", "hello.runtimeconfig.json", "hello.deps.json" })
        {
            File.Copy(Path.Combine(AppContext.BaseDirectory, file), Path.Combine(app, file));
        }

        File.WriteAllText(Path.Combine(app, "backstay.yaml"), $$"""
            service: relimage
            platform:
              local:
                instances: 1
                listeners: { production: 127.0.0.1:{{_prod}} }
            task:
              image: ./hello.dll
              startTimeout: 20s
              healthCheck: { path: /healthz, interval: 500ms, timeout: 400ms, healthyThreshold: 1, unhealthyThreshold: 2 }
            """);

        var validate = await _cli.RunAsync("validate", "-f", "app/backstay.yaml");
        validate.ExitCode.ShouldBe(0, validate.Stderr);

        await _cli.StartServeAsync();

        // Deploy must go through the controller's API (where the image used to be looked for in serve's folder), not
        // in-process: wait until the controller has written its address.
        var serverFile = Path.Combine(_cli.StateDirectory, "server.json");
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (!File.Exists(serverFile))
            {
                await Task.Delay(100, wait.Token);
            }
        }

        var deployed = await _cli.DeployAsync("-f", "app/backstay.yaml");
        deployed.ExitCode.ShouldBe(0, deployed.Raw);
        deployed.Outcome.ShouldBe("Succeeded");

        var loose = new List<string>();
        var state = _cli.StateDirectory;
        foreach (var entry in Directory.EnumerateFileSystemEntries(state, "*", SearchOption.AllDirectories).Prepend(state))
        {
            if (new FileInfo(entry).LinkTarget is not null)
            {
                continue;
            }

            var mode = File.GetUnixFileMode(entry);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
            {
                loose.Add($"{Path.GetRelativePath(state, entry)} {Convert.ToString((int)mode, 8)}");
            }
        }

        loose.ShouldBeEmpty();
        File.Exists(Path.Combine(state, "backstay.db")).ShouldBeTrue();
        File.Exists(Path.Combine(state, "server.json")).ShouldBeTrue();
    }

    [Fact]
    public async Task Validate_RelativeImageThatIsNotThere_NamesTheKeyAndWhereItLooked()
    {
        var app = Path.Combine(_cli.WorkDirectory, "app2");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "backstay.yaml"), """
            service: noimage
            platform: { local: {} }
            task: { image: ./missing.dll }
            """);

        var validate = await _cli.RunAsync("validate", "-f", "app2/backstay.yaml");
        validate.ExitCode.ShouldBe(2, validate.Stdout + validate.Stderr);
        validate.Stderr.ShouldContain("task.image");
        validate.Stderr.ShouldContain(Path.Combine(app, "missing.dll"));
    }
}
