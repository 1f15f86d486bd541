// How long to wait before the next restart of a process that keeps dying; shared by instances and HAProxy so both
// back off alike.
namespace Backstay.Platform.Local;

/// <summary>0.5 s, 1 s, 2 s … at most 10 s after the given number of failures in a row.</summary>
internal static class RestartBackoff
{
    public static TimeSpan After(int failures) =>
        TimeSpan.FromMilliseconds(Math.Min(10_000, 500 * Math.Pow(2, Math.Max(0, failures - 1))));
}
