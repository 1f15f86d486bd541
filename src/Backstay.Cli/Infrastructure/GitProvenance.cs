using System.Diagnostics;

namespace Backstay.Cli.Infrastructure;

/// <summary>Reads the commit, message and author of the repository a spec lives in.</summary>
internal static class GitProvenance
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public static async Task<Provenance> ReadAsync(string directory, string? commit, string? message, CancellationToken cancellationToken)
    {
        var head = await GitAsync(directory, cancellationToken, "log", "-1", "--format=%H%n%an <%ae>%n%s");
        var lines = head?.Split('\n') ?? [];
        var status = head is null ? null : await GitAsync(directory, cancellationToken, "status", "--porcelain", "--untracked-files=no");
        var branch = head is null ? null : await GitAsync(directory, cancellationToken, "rev-parse", "--abbrev-ref", "HEAD");
        return new Provenance
        {
            Commit = commit ?? (lines.Length > 0 && lines[0].Length > 0 ? lines[0] : null),
            Author = lines.Length > 1 ? lines[1] : null,
            Message = message ?? (lines.Length > 2 ? lines[2] : null),
            Branch = branch?.Trim(),
            Dirty = commit is null && !string.IsNullOrWhiteSpace(status),
        };
    }

    private static async Task<string?> GitAsync(string directory, CancellationToken cancellationToken, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo("git") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info);
            if (process is null)
            {
                return null;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
                await process.WaitForExitAsync(timeout.Token);
                return process.ExitCode == 0 ? output.TrimEnd() : null;
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }
}
