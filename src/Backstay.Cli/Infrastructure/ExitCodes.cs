namespace Backstay.Cli.Infrastructure;

/// <summary>Exit codes of the backstay command; documented in the README.</summary>
internal static class ExitCodes
{
    public const int Succeeded = 0;
    public const int Error = 1;
    public const int InvalidInput = 2;
    public const int RolledBack = 3;
    public const int Failed = 4;
    public const int Paused = 5;
    public const int Stopped = 6;
    public const int Conflict = 7;
    public const int NoController = 8;
    public const int Drift = 9;
    public const int Interrupted = 130;

    /// <summary>What each code means: the one wording, shown in the help of the commands that end with a deployment's outcome (README's table is tested against it).</summary>
    public static IReadOnlyList<(int Code, string Meaning)> Meanings { get; } =
    [
        (Succeeded, "succeeded"),
        (Error, "unexpected error"),
        (InvalidInput, "invalid input: spec, argument, unknown service, revision or deployment"),
        (RolledBack, "the deployment was rolled back"),
        (Failed, "the deployment failed (or its rollback failed)"),
        (Paused, "the deployment is paused, waiting for `continue` or `rollback`"),
        (Stopped, "the deployment was stopped"),
        (Conflict, "conflict: the service already has a deployment in progress, a controller already runs, or (ECS) the state directory's record is older than what AWS shows"),
        (NoController, "no controller: no `backstay serve` runs for the state directory (local services), or the `--server` did not answer"),
        (Drift, "drift: the platform differs from the record (deploy refused, or the deployment stopped for drift with nothing changed after it was found); run `backstay reset` (or `deploy --reset`)"),
        (Interrupted, "interrupted (Ctrl+C); recorded deployments go on in `serve`"),
    ];
}

/// <summary>A user error: the message says what was wrong and what would be right.</summary>
internal sealed class CliException(string message, int exitCode = ExitCodes.InvalidInput) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
