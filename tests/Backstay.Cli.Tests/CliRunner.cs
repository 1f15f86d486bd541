using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Backstay.Cli.Tests;

/// <summary>Result of one run of the real backstay command.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the built backstay command as a real process in a working directory of its own.</summary>
public sealed class CliRunner : IDisposable
{
    private readonly List<Process> _background = [];

    public CliRunner()
    {
        WorkDirectory = Path.Combine(Path.GetTempPath(), "backstay-cli-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(WorkDirectory);
    }

    public string WorkDirectory { get; }

    public string StateDirectory => Path.Combine(WorkDirectory, ".backstay");

    public static string BackstayDll => Path.Combine(AppContext.BaseDirectory, "backstay.dll");

    public async Task<CliResult> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"backstay {string.Join(' ', args)} did not finish within {timeout}; stdout so far: {await stdout}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public Task<CliResult> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(60), args);

    /// <summary>Starts a long-running command (serve) that the runner kills at dispose.</summary>
    public Process StartBackground(params string[] args)
    {
        var process = Start(args);
        _background.Add(process);
        return process;
    }

    public string WriteFile(string name, string content)
    {
        var path = Path.Combine(WorkDirectory, name);
        File.WriteAllText(path, content);
        return path;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Process Start(string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = WorkDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        info.ArgumentList.Add(BackstayDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NO_COLOR"] = "1";
        info.Environment.Remove("BACKSTAY_STATE");
        return Process.Start(info) ?? throw new InvalidOperationException("could not start backstay");
    }

    public void Dispose()
    {
        foreach (var process in _background)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        StopLeftovers();
        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Kills whatever a killed serve left running (instances and HAProxy are detached on purpose).</summary>
    public void StopLeftovers()
    {
        if (Directory.Exists(StateDirectory))
        {
            Backstay.Platform.Local.LocalPlatform.StopLeftoversAsync(StateDirectory).Wait(TimeSpan.FromSeconds(20));
        }
    }
}
