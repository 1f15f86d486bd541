using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>One `backstay serve` process on a CLI's state directory, its output read as it comes (a pipe nobody reads fills up and blocks the controller).</summary>
public sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly EcsCli _cli;

    private ServeProcess(EcsCli cli, Process process)
    {
        _cli = cli;
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The lease owner the engine of this process records (see ServeCommand).</summary>
    public string Owner => $"serve-{Environment.MachineName}-{_process.Id}";

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public string StateDirectory => _cli.StateDirectory;

    public static async Task<ServeProcess> StartAsync(EcsCli cli, params string[] extra)
    {
        ArgumentNullException.ThrowIfNull(cli);
        var replica = new ServeProcess(cli, cli.Start(["serve", "--listen", "127.0.0.1:0", .. extra]));
        var clock = Stopwatch.StartNew();
        while (ServerUrl(cli.StateDirectory) is null || !replica.Output.Contains("Backstay is serving", StringComparison.Ordinal))
        {
            replica.ShouldBeRunning();
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException("serve did not start within 60 s:\n" + replica.Output);
            }

            await Task.Delay(100);
        }

        return replica;
    }

    public static string? ServerUrl(string stateDirectory)
    {
        var path = Path.Combine(stateDirectory, "server.json");
        try
        {
            return File.Exists(path) ? JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("url").GetString() : null;
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            return null;
        }
    }

    public void ShouldBeRunning() => _process.HasExited.ShouldBeFalse("serve exited early:\n" + Output);

    public void Kill() => _process.Kill(entireProcessTree: true);

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        kill.ExitCode.ShouldBe(0, $"kill -{signal}");
    }

    /// <summary>
    /// SIGTERM, as systemd, Docker or `kill` stop it; on a hang, the failure carries serve's output and its threads' stacks.
    /// Not SIGINT: a process started in the background by a shell inherits SIGINT ignored, and .NET keeps an inherited ignore.
    /// </summary>
    public async Task StopAsync(TimeSpan limit)
    {
        if (_process.HasExited)
        {
            return;
        }

        Signal("CONT");
        Signal("TERM");
        try
        {
            await _process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            var stacks = await StackReport.OfAsync(_process.Id);
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"serve did not stop within {limit.TotalSeconds:0} s of SIGTERM.\nIts output:\n{Output}\nIts stacks:\n{stacks}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await StopAsync(TimeSpan.FromSeconds(90));
            }
            catch (TimeoutException)
            {
                // Already killed; the test that owns it reports its own failure.
            }
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
