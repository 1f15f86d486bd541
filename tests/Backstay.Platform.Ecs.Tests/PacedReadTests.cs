using Backstay.Platform.Ecs.Aws;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>The pacing of one kind of read on a clock the test moves: when a kept read answers, and when AWS is asked again.</summary>
public sealed class PacedReadTests
{
    private static readonly ReadPacing Pacing = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));

    private readonly ManualClock _clock = new();
    private int _reads;
    private string _state = "2 healthy";

    [Fact]
    public async Task Watch_NothingChanging_WaitsTwiceAsLongAfterEachReadUpToTheMaximum()
    {
        var read = new PacedRead<Box>(Pacing, b => b.State);
        var readAt = new List<double>();

        for (var second = 0.0; second <= 60; second += 0.25)
        {
            _clock.Now = Start.AddSeconds(second);
            var before = _reads;
            await GetAsync(read, Freshness.Watch);
            if (_reads > before)
            {
                readAt.Add(second);
            }
        }

        readAt.ShouldBe([0, 1, 3, 7, 15, 25, 35, 45, 55]);
    }

    [Fact]
    public async Task Watch_AChangeSeen_ReadsAgainAfterTheMinimumAge()
    {
        var read = new PacedRead<Box>(Pacing, b => b.State);
        foreach (var second in new[] { 0, 1, 3, 7 })
        {
            _clock.Now = Start.AddSeconds(second);
            await GetAsync(read, Freshness.Watch);
        }

        _state = "3 healthy";
        _clock.Now = Start.AddSeconds(15);
        await GetAsync(read, Freshness.Watch);
        _clock.Now = Start.AddSeconds(16);
        await GetAsync(read, Freshness.Watch);

        _reads.ShouldBe(6, "the read at 15 s saw a change, so the next one came 1 s later, not 10 s");
        read.UnchangedReads.ShouldBe(1);
    }

    [Fact]
    public async Task Invalidate_AfterAWrite_TheNextWatchReadsAtOnce()
    {
        var read = new PacedRead<Box>(Pacing, b => b.State);
        _clock.Now = Start;
        await GetAsync(read, Freshness.Watch);

        read.Invalidate();
        await GetAsync(read, Freshness.Watch);

        _reads.ShouldBe(2);
    }

    [Fact]
    public async Task ForActAndFresh_DoNotTakeAReadAsOldAsTheWatchersDo()
    {
        var read = new PacedRead<Box>(Pacing, b => b.State);
        foreach (var second in new[] { 0, 1, 3, 7 })
        {
            _clock.Now = Start.AddSeconds(second);
            await GetAsync(read, Freshness.Watch);
        }

        _clock.Now = Start.AddSeconds(9);
        await GetAsync(read, Freshness.Watch);
        var watched = _reads;
        await GetAsync(read, Freshness.ForAct);
        var acted = _reads;
        await GetAsync(read, Freshness.ForAct);
        await GetAsync(read, Freshness.Fresh);

        watched.ShouldBe(4, "a watcher takes the 2 s old read (the pacing allows 8 s now)");
        acted.ShouldBe(5, "one about to act takes nothing older than the minimum age");
        _reads.ShouldBe(6, "the second ForAct took the read just made; Fresh always reads");
    }

    [Fact]
    public async Task Watch_DueButPutOffByTheRateLimit_KeepsTheOlderAnswerAndTriesAgainNextTime()
    {
        var read = new PacedRead<Box>(Pacing, b => b.State);
        _clock.Now = Start;
        await GetAsync(read, Freshness.Watch);
        _state = "3 healthy";
        _clock.Now = Start.AddSeconds(5);

        var putOff = await read.GetAsync(Freshness.Watch, _clock, _ => throw new AwsCallDeferredException("ELB DescribeTargetHealth"), CancellationToken.None);
        var next = await GetAsync(read, Freshness.Watch);

        putOff.State.ShouldBe("2 healthy");
        next.State.ShouldBe("3 healthy", "the read put off is due at the next tick");
    }

    [Fact]
    public async Task Callers_AtTheSameTime_ShareTheOneReadInFlight()
    {
        var read = new PacedRead<Box>(Pacing, b => b.State);
        var answer = new TaskCompletionSource<Box>();
        var calls = 0;
        _clock.Now = Start;

        var callers = Enumerable.Range(0, 5)
            .Select(_ => read.GetAsync(Freshness.Watch, _clock, _ => { Interlocked.Increment(ref calls); return answer.Task; }, CancellationToken.None))
            .ToList();
        answer.SetResult(new Box("2 healthy"));
        var results = await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(10));

        calls.ShouldBe(1);
        results.ShouldAllBe(b => b.State == "2 healthy");
    }

    [Fact]
    public async Task Usable_AKeptReadForOtherTargetGroups_IsNotTaken()
    {
        var read = new PacedRead<Box>(Pacing, b => b.State);
        _clock.Now = Start;
        await read.GetAsync(Freshness.Watch, _clock, _ => Task.FromResult(new Box("blue")), CancellationToken.None, usable: b => b.State == "blue");

        var green = await read.GetAsync(Freshness.Watch, _clock, _ => Task.FromResult(new Box("green")), CancellationToken.None, usable: b => b.State == "green");

        green.State.ShouldBe("green");
    }

    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private Task<Box> GetAsync(PacedRead<Box> read, Freshness freshness) =>
        read.GetAsync(freshness, _clock, _ =>
        {
            _reads++;
            return Task.FromResult(new Box(_state));
        }, CancellationToken.None);

    private sealed record Box(string State);

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
