using Backstay.Testing;

namespace Backstay.Core.Tests.Fakes;

public sealed class ManualTimeProviderTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Delay_ClockPassesDueTime_Completes()
    {
        var time = new ManualTimeProvider();
        var delay = Task.Delay(TimeSpan.FromSeconds(5), time, CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(4.9));
        delay.IsCompleted.ShouldBeFalse();
        time.Advance(TimeSpan.FromMilliseconds(100));

        await delay.WaitAsync(Wait);
    }

    [Fact]
    public void CreateTimer_Periodic_FiresOncePerPeriodAtItsOwnDueTime()
    {
        var time = new ManualTimeProvider();
        var start = time.GetUtcNow();
        var fired = new List<TimeSpan>();
        using var timer = time.CreateTimer(_ => fired.Add(time.GetUtcNow() - start), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));

        time.Advance(TimeSpan.FromSeconds(6));

        fired.ShouldBe([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5)]);
        (time.GetUtcNow() - start).ShouldBe(TimeSpan.FromSeconds(6));
    }

    [Fact]
    public void Advance_SeveralTimers_FiresInDueOrder()
    {
        var time = new ManualTimeProvider();
        var fired = new List<string>();
        using var late = time.CreateTimer(_ => fired.Add("late"), null, TimeSpan.FromSeconds(3), Timeout.InfiniteTimeSpan);
        using var early = time.CreateTimer(_ => fired.Add("early"), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(5));

        fired.ShouldBe(["early", "late"]);
        time.ScheduledTimers.ShouldBe(0);
    }

    [Fact]
    public void Dispose_BeforeDue_NeverFiresAndCannotBeChanged()
    {
        var time = new ManualTimeProvider();
        var fired = 0;
        var timer = time.CreateTimer(_ => fired++, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        timer.Dispose();
        time.Advance(TimeSpan.FromSeconds(5));

        fired.ShouldBe(0);
        timer.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan).ShouldBeFalse();
    }

    [Fact]
    public async Task Delay_Cancelled_CompletesCancelledWithoutTheClock()
    {
        var time = new ManualTimeProvider();
        using var cancellation = new CancellationTokenSource();
        var delay = Task.Delay(TimeSpan.FromHours(1), time, cancellation.Token);

        await cancellation.CancelAsync();

        await Should.ThrowAsync<TaskCanceledException>(delay.WaitAsync(Wait));
        time.ScheduledTimers.ShouldBe(0);
    }

    [Fact]
    public void GetElapsedTime_UsesTheManualClock()
    {
        var time = new ManualTimeProvider();
        var started = time.GetTimestamp();

        time.Advance(TimeSpan.FromMinutes(3));

        time.GetElapsedTime(started).ShouldBe(TimeSpan.FromMinutes(3));
    }
}
