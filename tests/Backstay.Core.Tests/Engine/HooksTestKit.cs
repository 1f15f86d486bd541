using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Testing;

namespace Backstay.Core.Tests.Engine;

/// <summary>Hook specs and hook-run queries for the engine's hook tests.</summary>
public static class HookSpecs
{
    public static HookSpec Exec(string script, TimeSpan? timeout = null) =>
        new() { Exec = new ExecHookSpec { Command = ["/bin/sh", "-c", script], Timeout = timeout ?? TimeSpan.FromSeconds(10) } };

    public static HookSpec Http(Uri url, TimeSpan? timeout = null, int retries = 2, string? secretEnv = null) =>
        new() { Http = new HttpHookSpec { Url = url.ToString(), Timeout = timeout ?? TimeSpan.FromSeconds(5), Retries = retries, SecretEnv = secretEnv } };

    public static HookSpec Pause(TimeSpan timeout, string onTimeout = "rollback") =>
        new() { Pause = new PauseHookSpec { Timeout = timeout, OnTimeout = onTimeout } };

    /// <summary>A hooks dictionary: each stage with its hooks in order.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<HookSpec>> At(params (string Stage, HookSpec[] Hooks)[] stages) =>
        stages.ToDictionary(s => s.Stage, s => (IReadOnlyList<HookSpec>)s.Hooks, StringComparer.Ordinal);

    /// <summary>The spec with hooks, and exec hooks running in the given directory.</summary>
    public static ServiceSpec WithHooks(this ServiceSpec spec, string? baseDirectory, params (string Stage, HookSpec[] Hooks)[] stages)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec with { Hooks = At(stages), BaseDirectory = baseDirectory };
    }

    /// <summary>Hook runs of a deployment in the order they were first saved.</summary>
    public static IReadOnlyList<HookRun> HookRuns(this InMemoryStateStore store, string deploymentId)
    {
        ArgumentNullException.ThrowIfNull(store);
        var runs = store.ListHookRunsAsync(deploymentId, CancellationToken.None);
        return runs.IsCompletedSuccessfully ? runs.Result : throw new InvalidOperationException("the in-memory store answers synchronously");
    }

    /// <summary>The one hook run of a deployment that awaits action, if any.</summary>
    public static HookRun? Waiting(this InMemoryStateStore store, string deploymentId) =>
        store.HookRuns(deploymentId).SingleOrDefault(r => r.State == HookState.AwaitingAction);

    /// <summary>Runs the engine until a pause hook of the deployment awaits action and the deployment says Paused.</summary>
    public static async Task<HookRun> RunUntilAwaitingAsync(this EngineHarness harness, string deploymentId, TimeSpan? fakeLimit = null)
    {
        ArgumentNullException.ThrowIfNull(harness);
        await harness.RunUntilAsync(
            () => harness.Store.Waiting(deploymentId) is not null && harness.Store.Deployment(deploymentId).State == DeploymentState.Paused,
            fakeLimit ?? TimeSpan.FromSeconds(30), $"a hook of {deploymentId} awaiting action");
        return harness.Store.Waiting(deploymentId)!;
    }
}

/// <summary>A directory of its own for a test's exec hooks, removed afterwards.</summary>
public sealed class HookDirectory : IDisposable
{
    public HookDirectory()
    {
        Path = Directory.CreateTempSubdirectory("backstay-hooks-").FullName;
    }

    public string Path { get; }

    /// <summary>Lines of a file the hooks wrote, or none when they wrote nothing.</summary>
    public IReadOnlyList<string> Lines(string name)
    {
        var file = System.IO.Path.Combine(Path, name);
        return File.Exists(file) ? File.ReadAllLines(file) : [];
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
