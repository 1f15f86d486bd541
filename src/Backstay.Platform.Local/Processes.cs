namespace Backstay.Platform.Local;

/// <summary>What other parts of Backstay (the CLI, tests) may ask about a process, read from /proc as the platform does.</summary>
public static class Processes
{
    /// <summary>The process exists and is not a zombie waiting to be reaped.</summary>
    public static bool IsAlive(int pid) => ProcFs.ReadStat(pid) is { IsZombie: false };
}
