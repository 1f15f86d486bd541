namespace Backstay.Core.Engine;

/// <summary>
/// How long the engine's own decisions take, for `serve`'s /metrics: one tick of a running deployment (answer
/// commands, check crash loops and alarms, judge the traffic, report progress), one evaluation of a step's
/// analysis, and one pass recording what the platform shows for every service.
/// </summary>
public sealed class EngineTimings
{
    /// <summary>Seconds; decisions are expected in milliseconds, an observation pass over many services in seconds.</summary>
    public static readonly double[] Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>One tick of a running deployment (after its wait): commands, crash loops, alarms, background analysis, progress.</summary>
    public Histogram Watch { get; } = new(Buckets);

    /// <summary>One evaluation of a step's analysis: the platform's figures read and judged.</summary>
    public Histogram Analysis { get; } = new(Buckets);

    /// <summary>One pass recording the platform's state of every service (every 2 s by default).</summary>
    public Histogram Observe { get; } = new(Buckets);
}

/// <summary>A Prometheus-style histogram (cumulative buckets, sum, count), safe to record into from several threads.</summary>
public sealed class Histogram(double[] bounds)
{
    private readonly Lock _lock = new();
    private readonly long[] _counts = new long[bounds.Length];
    private double _sum;
    private long _count;

    public void Observe(double value)
    {
        lock (_lock)
        {
            for (var i = 0; i < bounds.Length; i++)
            {
                if (value <= bounds[i])
                {
                    _counts[i]++;
                }
            }

            _sum += value;
            _count++;
        }
    }

    /// <summary>The upper bounds with their cumulative counts, the sum and the count, read together.</summary>
    public HistogramSnapshot Snapshot()
    {
        lock (_lock)
        {
            return new HistogramSnapshot(bounds, [.. _counts], _sum, _count);
        }
    }
}

/// <summary>A histogram's figures at one moment.</summary>
public sealed record HistogramSnapshot(IReadOnlyList<double> Bounds, IReadOnlyList<long> Cumulative, double Sum, long Count);
