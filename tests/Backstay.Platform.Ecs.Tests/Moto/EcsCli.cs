using System.Diagnostics;
using System.Text.Json;
using Backstay.State.Sqlite;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>What one `backstay` process printed and how it exited.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement;

    public string Outcome => Json.GetProperty("outcome").GetString()!;

    public string Id => Json.GetProperty("id").GetString()!;

    public override string ToString() => $"exit {ExitCode}\n{Stdout}\n{Stderr}";
}

/// <summary>
/// The real `backstay` command, each run in its own process, in one working directory (so one `.backstay/` state
/// directory) pointed at moto through the AWS_ENDPOINT_URL the test process carries.
/// </summary>
public sealed class EcsCli : IDisposable
{
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    public string WorkDirectory { get; } = Directory.CreateTempSubdirectory("backstay-ecs-cli-").FullName;

    public string StateDirectory => Path.Combine(WorkDirectory, ".backstay");

    /// <summary>Another moto server than the one the test process points at, for every command of this CLI.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>Writes backstay.yaml for the world's service with the given strategy and hooks (YAML, indented by two).</summary>
    public void WriteSpec(MotoWorld world, string strategy, string? hooks = null) => File.WriteAllText(Path.Combine(WorkDirectory, "backstay.yaml"), $$"""
        service: {{world.Service}}
        platform:
          ecs:
            cluster: {{world.Cluster}}
            region: {{MotoServer.Region}}
            container: web
            desiredCount: 2
            launchType: EC2
            loadBalancer: { productionListener: "{{world.ProductionListener}}", testListener: "{{world.TestListener}}", targetGroups: ["{{world.Blue}}", "{{world.Green}}"] }
            alarms: [{{world.AlarmName}}]
        task:
          image: public.ecr.aws/nginx/nginx:1.27
          port: 8080
          startTimeout: 30s
        strategy:
          {{strategy}}
        analysis: { window: 2s, minRequests: 20, interval: 250ms }
        """ + (hooks is null ? "" : "\nhooks:\n" + hooks + "\n"));

    /// <summary>Runs one command to its end (killed after <see cref="CommandTimeout"/>).</summary>
    public async Task<CliRun> RunAsync(params string[] args)
    {
        using var process = Start(args);
        return await WaitAsync(process);
    }

    /// <summary>Starts one command and leaves it running; finish it with <see cref="WaitAsync"/>.</summary>
    public Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = WorkDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "backstay.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NO_COLOR"] = "1";
        info.Environment.Remove("BACKSTAY_STATE");
        if (Endpoint is not null)
        {
            info.Environment["AWS_ENDPOINT_URL"] = Endpoint.ToString();
            info.Environment["AWS_ACCESS_KEY_ID"] = "testing";
            info.Environment["AWS_SECRET_ACCESS_KEY"] = "testing";
            info.Environment["AWS_REGION"] = MotoServer.Region;
            info.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        }

        return Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
    }

    public static async Task<CliRun> WaitAsync(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(CommandTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            throw new TimeoutException($"backstay did not exit within {CommandTimeout}:\n{await stdout.WaitAsync(TimeSpan.FromSeconds(5))}\n{await stderr.WaitAsync(TimeSpan.FromSeconds(5))}");
        }

        return new CliRun(process.ExitCode, await stdout.WaitAsync(TimeSpan.FromSeconds(10)), await stderr.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>The state directory's store, opened beside the CLI processes (SQLite allows it), for what the CLI does not print.</summary>
    public async Task<SqliteStateStore> OpenStoreAsync()
    {
        var store = new SqliteStateStore(StateDirectory, TimeProvider.System);
        await store.InitializeAsync(CancellationToken.None).WaitAsync(MotoWorld.CallTimeout);
        return store;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
