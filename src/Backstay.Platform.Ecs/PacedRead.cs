using Backstay.Platform.Ecs.Aws;

namespace Backstay.Platform.Ecs;

/// <summary>How young a read must be for the one asking.</summary>
internal enum Freshness
{
    /// <summary>Sent after the caller asked: what it reads reflects everything before (e.g. its own write).</summary>
    Fresh,

    /// <summary>At most the minimum age old: the caller is about to act on it (a write, a drift check before a step).</summary>
    ForAct,

    /// <summary>As old as the pacing allows: the caller watches (the engine's ticks, progress, observations).</summary>
    Watch,
}

/// <summary>
/// How long a watched read is reused: the minimum age right after a write or a change, doubling with each read that
/// finds nothing changed, up to the maximum. So a service that changes (tasks starting, targets turning healthy) is read
/// about once a second, and one that waits (a bake, a pause, a rollout ECS cannot place) every maximum age.
/// </summary>
internal sealed record ReadPacing(TimeSpan MinAge, TimeSpan MaxAge)
{
    public TimeSpan AgeAfter(int unchangedReads)
    {
        var age = MinAge;
        for (var i = 0; i < unchangedReads && age < MaxAge; i++)
        {
            age *= 2;
        }

        return age < MaxAge ? age : MaxAge < MinAge ? MinAge : MaxAge;
    }
}

/// <summary>
/// One kind of read of one service (DescribeServices, target health, alarms) shared by everything that asks for it in
/// the process: a read young enough for the caller is reused, concurrent callers wait for the one read in flight rather
/// than each sending their own, and a write by Backstay invalidates it, so the next read after a write is always fresh.
/// A watcher that is due for a new read but finds the rate limit without a token keeps the older answer until one is
/// there (<see cref="AwsCallDeferral"/>), so watching never delays a deployment that acts.
/// </summary>
internal sealed class PacedRead<T>(ReadPacing pacing, Func<T, string> fingerprint)
    where T : class
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _lock = new();
    private T? _value;
    private DateTimeOffset _at;
    private string? _fingerprint;
    private int _unchanged;
    private long _generation;

    /// <summary>How many reads in a row found nothing changed (0 right after a write or a change).</summary>
    public int UnchangedReads
    {
        get
        {
            lock (_lock)
            {
                return _unchanged;
            }
        }
    }

    /// <summary>Forgets the value after a write and reads quickly again (the minimum age) until reads stop changing.</summary>
    public void Invalidate()
    {
        lock (_lock)
        {
            _value = null;
            _unchanged = 0;
            _generation++;
        }
    }

    /// <param name="usable">Whether a kept value answers this caller at all (e.g. target health read for the same target groups).</param>
    public async Task<T> GetAsync(Freshness freshness, TimeProvider time, Func<CancellationToken, Task<T>> read, CancellationToken cancellationToken,
        Func<T, bool>? usable = null)
    {
        var asked = time.GetUtcNow();
        if (Reusable(freshness, asked, time.GetUtcNow(), usable) is { } kept)
        {
            return kept;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Another caller may have read while this one waited.
            if (Reusable(freshness, asked, time.GetUtcNow(), usable) is { } read2)
            {
                return read2;
            }

            long generation;
            T? older;
            lock (_lock)
            {
                generation = _generation;
                older = freshness == Freshness.Watch && _value is not null && (usable is null || usable(_value)) ? _value : null;
            }

            var started = time.GetUtcNow();
            T value;
            if (older is not null)
            {
                // A watcher with an older answer does not queue for a token ahead of those about to act: it keeps that answer for now.
                try
                {
                    value = await AwsCallDeferral.RunAsync(read, cancellationToken);
                }
                catch (AwsCallDeferredException)
                {
                    return older;
                }
            }
            else
            {
                value = await read(cancellationToken);
            }

            var print = fingerprint(value);
            lock (_lock)
            {
                if (generation == _generation)
                {
                    _unchanged = print == _fingerprint ? _unchanged + 1 : 0;
                    _fingerprint = print;
                    _value = value;
                    _at = started;
                }
            }

            return value;
        }
        finally
        {
            _gate.Release();
        }
    }

    private T? Reusable(Freshness freshness, DateTimeOffset asked, DateTimeOffset now, Func<T, bool>? usable)
    {
        lock (_lock)
        {
            if (_value is null || (usable is not null && !usable(_value)))
            {
                return null;
            }

            var young = freshness switch
            {
                Freshness.Fresh => _at > asked,
                Freshness.ForAct => now - _at < pacing.MinAge,
                _ => now - _at < pacing.AgeAfter(_unchanged),
            };
            return young ? _value : null;
        }
    }
}
