// Work started in the background (health checks, HAProxy exit watchers) that stopping the platform must still wait
// for; one registry so the facade can wait for all of it at once, whoever started it.
using System.Collections.Concurrent;

namespace Backstay.Platform.Local;

/// <summary>The background tasks still running; a task leaves the set when it ends.</summary>
internal sealed class BackgroundTasks
{
    private readonly ConcurrentDictionary<Task, bool> _running = new();

    public IEnumerable<Task> Running => _running.Keys;

    public void Track(Task task)
    {
        _running.TryAdd(task, true);
        _ = task.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
