using Backstay.Core.Spec;

namespace Backstay.Core.Ports;

/// <summary>
/// Reads a metric from where a team keeps it (Prometheus, a web endpoint, CloudWatch) for one revision. A provider
/// reads; it never judges: the engine holds the value against the metric's range.
/// </summary>
public interface IMetricProvider
{
    /// <summary>The key of <c>analysis.metrics[]</c> this provider reads: prometheus, web or cloudWatch.</summary>
    string Kind { get; }

    /// <summary>
    /// Reads the metric's value now; a null value means the source has no data yet (an empty result, NaN). Throws
    /// <see cref="MetricReadException"/> saying what went wrong when the source cannot be read or its answer is not one number.
    /// </summary>
    Task<MetricReading> ReadAsync(MetricSpec metric, MetricQuery query, CancellationToken cancellationToken);
}

/// <summary>A metric's value as read, with the query as sent (the evidence names it).</summary>
public sealed record MetricReading(double? Value, string Query);

/// <summary>A metric could not be read: the source refused, timed out, or answered with something other than one number.</summary>
public sealed class MetricReadException : Exception
{
    public MetricReadException(string message)
        : base(message)
    {
    }

    public MetricReadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public MetricReadException()
    {
    }
}
