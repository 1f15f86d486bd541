using System.Diagnostics;
using System.Text;
using Backstay.Core.Spec;

namespace Backstay.Core.Hooks;

/// <summary>Runs an exec hook: a command with the deployment's context in its environment; exit code 0 passes.</summary>
public static class ExecHookRunner
{
    /// <summary>Output kept per hook run; the rest is cut from the front.</summary>
    public const int MaxOutput = 16 * 1024;

    private static readonly TimeSpan OutputGrace = TimeSpan.FromSeconds(1);

    public static async Task<HookOutcome> RunAsync(ExecHookSpec hook, HookContext context, string workingDirectory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hook);
        ArgumentNullException.ThrowIfNull(context);
        var info = new ProcessStartInfo(hook.Command[0])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in hook.Command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in context.ToEnvironment())
        {
            info.Environment[key] = value;
        }

        var output = new StringBuilder();
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new HookOutcome(false, false, $"could not start '{hook.Command[0]}' in {workingDirectory}: {ex.Message}");
        }

        using (process)
        {
            process.StandardInput.Close();
            var stdout = PumpAsync(process.StandardOutput, output);
            var stderr = PumpAsync(process.StandardError, output);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(hook.Timeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);

                // A child left in the background may hold the pipes open: the hook's own exit decides, not theirs.
                try
                {
                    await Task.WhenAll(stdout, stderr).WaitAsync(OutputGrace, cancellationToken);
                }
                catch (TimeoutException)
                {
                    lock (output)
                    {
                        output.Append("\n[output still open after the hook exited; not waited for]");
                    }
                }
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
                cancellationToken.ThrowIfCancellationRequested();
                return new HookOutcome(false, true, Tail(output) + $"\n[timed out after {hook.Timeout}]");
            }

            return new HookOutcome(process.ExitCode == 0, false, Tail(output) + (process.ExitCode == 0 ? "" : $"\n[exit code {process.ExitCode}]"));
        }
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder output)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (output)
            {
                output.Append(buffer, 0, read);
                if (output.Length > MaxOutput * 2)
                {
                    output.Remove(0, output.Length - MaxOutput);
                }
            }
        }
    }

    private static string Tail(StringBuilder output)
    {
        lock (output)
        {
            return output.Length <= MaxOutput ? output.ToString() : output.ToString(output.Length - MaxOutput, MaxOutput);
        }
    }
}
