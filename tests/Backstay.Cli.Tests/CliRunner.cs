using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Backstay.Cli.Tests;

/// <summary>What `deploy --output json` said.</summary>
public sealed record DeployResult(int ExitCode, string Id, string Outcome, string Raw);

/// <summary>Result of one run of the real backstay command.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the built backstay command as a real process in a working directory of its own.</summary>
public sealed class CliRunner : IDisposable
{
    private readonly List<Process> _background = [];
    private readonly Dictionary<int, System.Text.StringBuilder> _output = [];

    public CliRunner()
    {
        WorkDirectory = Path.Combine(Path.GetTempPath(), "backstay-cli-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(WorkDirectory);
    }

    public string WorkDirectory { get; }

    /// <summary>Environment for the processes started from now on, over the default (NO_COLOR=1); a null value removes the variable.</summary>
    public Dictionary<string, string?> Environment { get; } = new(StringComparer.Ordinal);

    public string StateDirectory => Path.Combine(WorkDirectory, ".backstay");

    public static string BackstayDll => Path.Combine(AppContext.BaseDirectory, "backstay.dll");

    /// <summary>The checkout the tests were built from (the folder holding Backstay.sln).</summary>
    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Backstay.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("no Backstay.sln above " + AppContext.BaseDirectory);
    }

    public Task<CliResult> RunAsync(TimeSpan timeout, params string[] args) => RunProgramAsync(timeout, "dotnet", [BackstayDll, .. args]);

    /// <summary>Runs any program in the working directory, e.g. a terminal driver around backstay.</summary>
    public async Task<CliResult> RunProgramAsync(TimeSpan timeout, string program, params string[] args)
    {
        using var process = Start(program, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout}; stdout so far: {await stdout}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public Task<CliResult> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(60), args);

    /// <summary>Starts a long-running command (serve) that the runner kills at dispose.</summary>
    public Process StartBackground(params string[] args)
    {
        var process = Start(args);
        _background.Add(process);

        // Read as it comes: a pipe nobody reads fills up, and a controller blocked on writing its log cannot even stop.
        var output = new System.Text.StringBuilder();
        lock (_output)
        {
            _output[process.Id] = output;
        }

        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>What a background process printed so far (stdout and stderr, interleaved).</summary>
    public string OutputOf(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        lock (_output)
        {
            if (!_output.TryGetValue(process.Id, out var output))
            {
                return "";
            }

            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>
    /// Stops serve with SIGTERM, as systemd, Docker or `kill` do; on a hang, the failure carries its output and its threads' stacks.
    /// Not SIGINT: a process started in the background by a shell inherits SIGINT ignored (CI may start the tests so), and
    /// .NET keeps an inherited ignore, so Ctrl+C stops a serve started in a terminal but not one started like that.
    /// </summary>
    public async Task StopServeAsync(Process serve, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(serve);
        using (var interrupt = Process.Start("kill", ["-TERM", serve.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await interrupt.WaitForExitAsync();
        }

        try
        {
            await serve.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"serve did not stop within {limit.TotalSeconds:0} s of SIGTERM.\nIts output:\n{OutputOf(serve)}\nIts stacks:\n{await StackReport.OfAsync(serve.Id)}");
        }
    }

    private static void Append(System.Text.StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    public async Task<Process> StartServeAsync()
    {
        var serve = StartBackground("serve", "--listen", "127.0.0.1:0");
        var lockFile = Path.Combine(StateDirectory, "serve.lock");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (serve.HasExited)
            {
                throw new InvalidOperationException($"serve exited with {serve.ExitCode}: {OutputOf(serve)}");
            }

            var status = await RunAsync("status", "--output", "json");
            if (status.Stdout.Contains("\"controllerRunning\": true", StringComparison.Ordinal))
            {
                return serve;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"serve did not start; lock file exists: {File.Exists(lockFile)}");
    }

    public async Task<DeployResult> DeployAsync(params string[] extra)
    {
        var result = await RunAsync(TimeSpan.FromSeconds(90), ["deploy", "--output", "json", .. extra]);
        if (result.Stdout.Length == 0)
        {
            throw new InvalidOperationException($"deploy printed nothing (exit {result.ExitCode}): {result.Stderr}");
        }

        var root = JsonDocument.Parse(result.Stdout).RootElement;
        return new DeployResult(result.ExitCode, root.GetProperty("id").GetString()!, root.GetProperty("outcome").GetString()!, result.Stdout);
    }

    public async Task<JsonElement> WaitForOutcomeAsync(string service, string id, string outcome)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            var history = JsonDocument.Parse((await RunAsync("history", service, "--output", "json")).Stdout).RootElement;
            var deployment = history.EnumerateArray().Single(d => d.GetProperty("id").GetString() == id);
            if (deployment.GetProperty("outcome").GetString() == outcome)
            {
                return deployment;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"deployment {id} did not reach {outcome} within 30 s");
    }

    public static string Outcome(string json) => JsonDocument.Parse(json).RootElement.GetProperty("outcome").GetString()!;

    /// <summary>The named check of the verdict that decided a deploy report's deployment (its `analysis`).</summary>
    public static JsonElement AnalysisCheck(string report, string metric) =>
        JsonDocument.Parse(report).RootElement.GetProperty("analysis").GetProperty("checks").EnumerateArray()
            .Single(c => c.GetProperty("metric").GetString() == metric);

    public static async Task<List<int>> ServedRevisionsAsync(int port, int requests)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var revisions = new List<int>();
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/"));
            if (response.Headers.TryGetValues("X-Revision", out var values))
            {
                revisions.Add(int.Parse(values.First(), CultureInfo.InvariantCulture));
            }
        }

        return revisions;
    }

    public static async Task LoadAsync(int port, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/"), cancellationToken);
                await Task.Delay(5, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(50, CancellationToken.None);
            }
        }
    }

    /// <summary>The pids of the local revision's instances as platform.json records them.</summary>
    public List<int> InstancePids(int revision)
    {
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(StateDirectory, "local", "platform.json"))).RootElement;
        return state.GetProperty("Services").EnumerateArray()
            .SelectMany(s => s.GetProperty("Revisions").EnumerateArray())
            .Where(r => r.GetProperty("Number").GetInt32() == revision)
            .SelectMany(r => r.GetProperty("Instances").EnumerateArray())
            .Select(i => i.GetProperty("Pid").GetInt32()).Where(pid => pid > 0).ToList();
    }

    public static bool Alive(int pid) => Directory.Exists($"/proc/{pid}");

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

    private Process Start(string[] args) => Start("dotnet", [BackstayDll, .. args]);

    private Process Start(string program, string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = WorkDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NO_COLOR"] = "1";
        info.Environment.Remove("BACKSTAY_STATE");
        foreach (var (name, value) in Environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
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
