namespace Backstay.Testing;

/// <summary>Runs work that must overlap, for tests of writers that race.</summary>
public static class Concurrently
{
    /// <summary>Runs each piece of work on its own thread, all released at once, so that they overlap.</summary>
    public static async Task<T[]> RunAsync<T>(TimeSpan timeout, params Func<Task<T>>[] work)
    {
        ArgumentNullException.ThrowIfNull(work);
        using var start = new Barrier(work.Length);
        var running = work.Select(
            w => Task.Factory.StartNew(
                () =>
                {
                    start.SignalAndWait(timeout);
                    return w();
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).Unwrap());
        return await Task.WhenAll(running).WaitAsync(timeout);
    }
}
