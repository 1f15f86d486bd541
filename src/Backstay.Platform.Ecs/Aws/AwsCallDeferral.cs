namespace Backstay.Platform.Ecs.Aws;

/// <summary>
/// Reads that may be put off when the rate limit has no token for them now: a watcher that already holds an older answer
/// (the engine's ticks, progress, observations) takes that answer rather than queue for a token ahead of a deployment
/// that is about to act (move traffic, roll back). Set for the calls made inside <see cref="RunAsync{T}"/>; once one of
/// them got its token, the others of the same read wait for theirs, so a read of several target groups is not started
/// over and over.
/// </summary>
internal static class AwsCallDeferral
{
    private static readonly AsyncLocal<Scope?> Current = new();

    /// <summary>Runs the read with its calls deferrable; throws <see cref="AwsCallDeferredException"/> when the first found no token.</summary>
    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        Current.Value = new Scope();
        return await read(cancellationToken);
    }

    /// <summary>Whether the call about to be sent may be put off (the first of a deferrable read); marks the read as started.</summary>
    public static bool MayPutOff() => Current.Value is { Started: false };

    /// <summary>The read got its first token: the rest of its calls wait for theirs.</summary>
    public static void Started()
    {
        if (Current.Value is { } scope)
        {
            scope.Started = true;
        }
    }

    private sealed class Scope
    {
        public bool Started { get; set; }
    }
}

/// <summary>A deferrable read found no token in the rate limit now; nothing was sent.</summary>
internal sealed class AwsCallDeferredException(string call) : Exception($"{call} put off: the client-side rate limit has no token now")
{
}
