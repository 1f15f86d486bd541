using Backstay.Core.Engine;

namespace Backstay.Core.Tests.Engine;

public sealed class HistogramTests
{
    [Fact]
    public void Observe_CountsEachValueInEveryBucketAtOrAboveIt()
    {
        var histogram = new Histogram([0.01, 0.1, 1]);

        histogram.Observe(0.005);
        histogram.Observe(0.1);
        histogram.Observe(0.5);
        histogram.Observe(7);

        var snapshot = histogram.Snapshot();
        snapshot.Cumulative.ShouldBe([1L, 2L, 3L]);
        snapshot.Count.ShouldBe(4);
        snapshot.Sum.ShouldBe(7.605, 1e-9);
    }

    [Fact]
    public async Task Observe_FromManyThreads_LosesNothing()
    {
        var histogram = new Histogram(EngineTimings.Buckets);

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                histogram.Observe(0.002);
            }
        })));

        var snapshot = histogram.Snapshot();
        snapshot.Count.ShouldBe(80_000);
        snapshot.Cumulative[^1].ShouldBe(80_000);
        snapshot.Cumulative[0].ShouldBe(0, "0.002 s is above the first bound, 0.5 ms");
    }
}
