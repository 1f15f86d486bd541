namespace Backstay.Testing;

/// <summary>
/// A clock that moves only when a test advances it. Its timers fire, in due order, as <see cref="Advance"/> passes
/// their due time (periodic ones repeatedly), so <c>Task.Delay(d, time, ct)</c> completes on fake time.
/// </summary>
/// <remarks>
/// Not Microsoft.Extensions.TimeProvider.Testing's FakeTimeProvider: that one (10.0) runs every callback that falls due
/// in one Advance with the clock already at the advance's end, under the caller's SynchronizationContext, and cannot
/// say how many timers wait, which is how EngineHarness knows an engine loop has parked on the clock.
/// </remarks>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<ManualTimer> _timers = [];
    private readonly Lock _advancing = new();
    private DateTimeOffset _now;
    private long _created;

    public ManualTimeProvider()
        : this(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public ManualTimeProvider(DateTimeOffset start)
    {
        _now = start;
    }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>Timers waiting for a due time; a fired one-shot timer no longer counts.</summary>
    public int ScheduledTimers
    {
        get
        {
            lock (_gate)
            {
                return _timers.Count(t => t.Due is not null);
            }
        }
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward, firing every timer that falls due on the way at its own due time.</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        lock (_advancing)
        {
            DateTimeOffset target;
            lock (_gate)
            {
                target = _now + by;
            }

            // Callbacks run inline, like FakeTimeProvider; without the test's context, so code they resume stays free-threaded.
            var context = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(null);
            try
            {
                while (NextDue(target) is { } timer)
                {
                    timer.Fire();
                }
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(context);
            }
        }
    }

    private ManualTimer? NextDue(DateTimeOffset target)
    {
        lock (_gate)
        {
            ManualTimer? next = null;
            foreach (var timer in _timers)
            {
                if (timer.Due is { } due && due <= target
                    && (next is null || due < next.Due || (due == next.Due && timer.Order < next.Order)))
                {
                    next = timer;
                }
            }

            if (next is null)
            {
                _now = target;
                return null;
            }

            if (next.Due!.Value > _now)
            {
                _now = next.Due.Value;
            }

            next.Due = next.Period is { } period ? next.Due + period : null;
            return next;
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset? Due { get; set; }

        public TimeSpan? Period { get; private set; }

        public long Order { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime < TimeSpan.Zero && dueTime != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(dueTime), dueTime, "The due time must be positive, zero or infinite.");
            }

            if (period < TimeSpan.Zero && period != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(period), period, "The period must be positive, zero or infinite.");
            }

            var fireNow = false;
            lock (owner._gate)
            {
                if (!owner._timers.Contains(this))
                {
                    if (Order != 0)
                    {
                        return false;
                    }

                    owner._timers.Add(this);
                }

                Order = ++owner._created;
                Period = period > TimeSpan.Zero ? period : null;
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    Due = null;
                }
                else if (dueTime == TimeSpan.Zero)
                {
                    // A real timer due now fires on another thread straight away; so does this one.
                    fireNow = true;
                    Due = Period is { } p ? owner._now + p : null;
                }
                else
                {
                    Due = owner._now + dueTime;
                }
            }

            if (fireNow)
            {
                ThreadPool.UnsafeQueueUserWorkItem(_ => Fire(), null);
            }

            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (owner._gate)
            {
                owner._timers.Remove(this);
                Due = null;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
