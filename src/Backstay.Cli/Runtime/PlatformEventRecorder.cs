using System.Globalization;
using System.Threading.Channels;
using Backstay.Core.Ports;
using Backstay.Platform.Local;
using Microsoft.Extensions.Logging;

namespace Backstay.Cli.Runtime;

/// <summary>
/// Puts what the local platform did on its own at a cost to production traffic (HAProxy restarted after it died) on
/// the record: an event in the timeline of each affected service's latest deployment, which `history --events` and
/// `status` show. The platform's callback only queues; one loop writes, so a slow store never holds the platform up.
/// </summary>
internal sealed partial class PlatformEventRecorder(IStateStore store, ILogger logger) : IAsyncDisposable
{
    /// <summary>The type of the event recorded for a HAProxy restart; its data carries gapMs, diedPid and startedPid.</summary>
    public const string HaproxyRestarted = "HaproxyRestarted";

    private readonly Channel<PlatformEvent> _queue = Channel.CreateUnbounded<PlatformEvent>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _loop;

    /// <summary>Queues the event when it is one to record; called on the platform's threads.</summary>
    public void Post(PlatformEvent platformEvent)
    {
        if (platformEvent is { Type: PlatformEventTypes.HaproxyRestarted, Gap: not null })
        {
            _queue.Writer.TryWrite(platformEvent);
        }
    }

    public void Start() => _loop = Task.Run(RunAsync);

    private async Task RunAsync()
    {
        await foreach (var platformEvent in _queue.Reader.ReadAllAsync())
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await RecordAsync(platformEvent, timeout.Token);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                RecordFailed(logger, ex, platformEvent.Message);
            }
        }
    }

    private async Task RecordAsync(PlatformEvent platformEvent, CancellationToken cancellationToken)
    {
        var data = JsonSerializer.Serialize(new Dictionary<string, long>
        {
            ["gapMs"] = (long)Math.Round(platformEvent.Gap!.Value.TotalMilliseconds),
            ["diedPid"] = platformEvent.Pids?.Died ?? 0,
            ["startedPid"] = platformEvent.Pids?.Started ?? 0,
        }, CliJsonContext.Default.DictionaryStringInt64);
        foreach (var service in platformEvent.Services)
        {
            // A service never deployed has no timeline yet, and had no traffic to lose.
            if ((await store.ListDeploymentsAsync(service, 1, cancellationToken)).FirstOrDefault() is not { } latest)
            {
                continue;
            }

            await store.AppendEventAsync(new DeploymentEvent
            {
                DeploymentId = latest.Id,
                At = platformEvent.At,
                Type = HaproxyRestarted,
                Message = platformEvent.Message,
                DataJson = data,
            }, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                RecordFailed(logger, null, string.Create(CultureInfo.InvariantCulture, $"{_queue.Reader.Count} platform event(s) not recorded within 10 s of stopping"));
            }
        }
    }

    [LoggerMessage(110, LogLevel.Warning, "Could not record a platform event in the history: {What}")]
    private static partial void RecordFailed(ILogger logger, Exception? exception, string what);
}
