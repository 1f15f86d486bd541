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
}

/// <summary>A user error: the message says what was wrong and what would be right.</summary>
internal sealed class CliException(string message, int exitCode = ExitCodes.InvalidInput) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
