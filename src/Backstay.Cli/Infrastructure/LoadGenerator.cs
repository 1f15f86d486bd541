using System.Collections.Concurrent;
using System.Globalization;

namespace Backstay.Cli.Infrastructure;

/// <summary>One response seen by the load generator.</summary>
internal readonly record struct LoadSample(DateTimeOffset At, int Status, int? Revision);

/// <summary>
/// Steady HTTP load against a listener at a fixed rate, recording every response's status and the revision
/// that served it (the X-Revision header), so failures can be counted per revision and per time span.
/// </summary>
internal sealed class LoadGenerator : IAsyncDisposable
{
    private const int MaxInFlight = 128;
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(10);
    private readonly HttpClient _client;
    private readonly Uri _target;
    private readonly double _ratePerSecond;
    private readonly TimeProvider _time;
    private readonly ConcurrentQueue<LoadSample> _samples = new();
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Cancels requests still in flight when they do not finish within the grace after stopping.</summary>
    private readonly CancellationTokenSource _abort = new();
    private readonly SemaphoreSlim _inFlight = new(MaxInFlight);
    private Task? _loop;
    private long _total;
    private bool _disposed;
    private long _totalFailed;

    public LoadGenerator(Uri target, double ratePerSecond, TimeProvider time)
    {
        _target = target;
        _ratePerSecond = ratePerSecond;
        _time = time;
        _client = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 64,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(2),
        })
        {
            Timeout = TimeSpan.FromSeconds(5),
        };
    }

    /// <summary>Requests that could not be sent because too many were in flight.</summary>
    public long Skipped { get; private set; }

    public IReadOnlyCollection<LoadSample> Samples => _samples;

    /// <summary>Responses received since the start, kept after <see cref="Forget"/>.</summary>
    public long Total => Interlocked.Read(ref _total);

    public long TotalFailed => Interlocked.Read(ref _totalFailed);

    /// <summary>Drops samples older than before, so a long run keeps bounded memory.</summary>
    public void Forget(DateTimeOffset before)
    {
        while (_samples.TryPeek(out var oldest) && oldest.At < before)
        {
            _samples.TryDequeue(out _);
        }
    }

    public void Start() => _loop = Task.Run(LoopAsync);

    public (long Requests, long Failed) Count(DateTimeOffset from, DateTimeOffset to)
    {
        long requests = 0, failed = 0;
        foreach (var s in _samples)
        {
            if (s.At >= from && s.At <= to)
            {
                requests++;
                if (s.Status is < 200 or >= 400)
                {
                    failed++;
                }
            }
        }

        return (requests, failed);
    }

    /// <summary>The first failed response served by the revision after from.</summary>
    public DateTimeOffset? FirstFailure(int revision, DateTimeOffset from) =>
        _samples.Where(s => s.Revision == revision && s.At >= from && s.Status is < 200 or >= 400)
            .Select(s => (DateTimeOffset?)s.At).Min();

    private async Task LoopAsync()
    {
        var credit = 0.0;
        var last = _time.GetTimestamp();
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Tick, _time, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var now = _time.GetTimestamp();
            credit += _time.GetElapsedTime(last, now).TotalSeconds * _ratePerSecond;
            last = now;
            for (; credit >= 1; credit--)
            {
                if (!_inFlight.Wait(0))
                {
                    Skipped++;
                    continue;
                }

                _ = SendAsync();
            }
        }
    }

    private async Task SendAsync()
    {
        try
        {
            using var response = await _client.GetAsync(_target, _abort.Token);
            int? revision = response.Headers.TryGetValues("X-Revision", out var values)
                && int.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : null;
            Record(new LoadSample(_time.GetUtcNow(), (int)response.StatusCode, revision));
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Record(new LoadSample(_time.GetUtcNow(), 0, null));
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private void Record(LoadSample sample)
    {
        _samples.Enqueue(sample);
        Interlocked.Increment(ref _total);
        if (sample.Status is < 200 or >= 400)
        {
            Interlocked.Increment(ref _totalFailed);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        // Stop issuing, then let the requests in flight finish (5 s at most) so every sent request is counted.
        _abort.CancelAfter(TimeSpan.FromSeconds(5));
        for (var i = 0; i < MaxInFlight; i++)
        {
            await _inFlight.WaitAsync(TimeSpan.FromSeconds(10));
        }

        _client.Dispose();
        _stop.Dispose();
        _abort.Dispose();
        _inFlight.Dispose();
    }
}
