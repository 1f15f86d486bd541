using System.Globalization;
using Backstay.Core.Analysis;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Metrics;

/// <summary>
/// The custom metrics of one deployment (<c>analysis.metrics[]</c>): each is read at its own interval, in the background
/// so a slow provider never holds up a look at the built-in figures, and its latest reading is judged against its range.
/// A metric fails once <c>consecutiveFailures</c> readings in a row were out of range; each reading counts once however
/// often the analysis looks at it. A reading that failed, or has no data, cannot judge (inconclusive), and says why.
/// </summary>
internal sealed class MetricReadings(IReadOnlyList<IMetricProvider> providers, TimeProvider time)
{
    private readonly Dictionary<string, State> _states = new(StringComparer.Ordinal);

    /// <summary>One check per metric, from its latest reading; starts a new reading of each metric that is due.</summary>
    public IReadOnlyList<AnalysisCheck> Check(AnalysisSpec spec, MetricQuery query)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var checks = new List<AnalysisCheck>(spec.Metrics.Count);
        lock (_states)
        {
            foreach (var metric in spec.Metrics)
            {
                if (!_states.TryGetValue(metric.Name, out var state) || state.Metric != metric)
                {
                    // A new metric, or an analysis step that judges this name differently: its own count.
                    _states[metric.Name] = state = new State(metric);
                }

                state.Required = spec.ConsecutiveFailures;
                state.Harvest();
                if (state.Pending is null && (state.ReadAt is not { } at || time.GetUtcNow() - at >= metric.Interval))
                {
                    // A provider that answers at once (a test's, a cache's) is judged in this same look.
                    state.Pending = ReadAsync(metric, query);
                    state.Harvest();
                }

                checks.Add(state.ToCheck(query.Revision, time.GetUtcNow()));
            }
        }

        return checks;
    }

    private async Task<Outcome> ReadAsync(MetricSpec metric, MetricQuery query)
    {
        var started = time.GetUtcNow();
        if (providers.FirstOrDefault(p => p.Kind == metric.Provider) is not { } provider)
        {
            return new Outcome(started, null, null, $"no {metric.Provider} provider runs here (CloudWatch metrics need platform ecs)");
        }

        try
        {
            // Bounded by the metric's own timeout; a reading is never left running past it.
            using var deadline = new CancellationTokenSource(metric.Timeout);
            var reading = await provider.ReadAsync(metric, query, deadline.Token);
            return new Outcome(started, reading.Value, reading.Query, null);
        }
        catch (MetricReadException e)
        {
            return new Outcome(started, null, null, e.Message);
        }
        catch (OperationCanceledException)
        {
            return new Outcome(started, null, null, string.Create(CultureInfo.InvariantCulture, $"no answer within {metric.Timeout.TotalSeconds:0.#} s (the metric's timeout)"));
        }
#pragma warning disable CA1031 // A provider's bug must not end the analysis: it is shown as a reading that failed.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return new Outcome(started, null, null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private sealed record Outcome(DateTimeOffset At, double? Value, string? Query, string? Error);

    private sealed class State(MetricSpec metric)
    {
        public MetricSpec Metric { get; } = metric;

        public Task<Outcome>? Pending { get; set; }

        public Outcome? Last { get; private set; }

        public DateTimeOffset? ReadAt => Last?.At;

        public int FailedInARow { get; set; }

        /// <summary>Readings out of range in a row needed to fail (the analysis's consecutiveFailures).</summary>
        public int Required { get; set; } = 1;

        /// <summary>Takes in a reading that has finished: it counts towards (or breaks) the run of failed readings once.</summary>
        public void Harvest()
        {
            if (Pending is not { IsCompleted: true } done)
            {
                return;
            }

            Pending = null;
            Last = done.Result;
            if (Last.Value is { } value)
            {
                FailedInARow = OutOfRange(value) ? Math.Min(FailedInARow + 1, Required) : 0;
            }
        }

        public AnalysisCheck ToCheck(int revision, DateTimeOffset now)
        {
            var threshold = Threshold();
            var check = new AnalysisCheck
            {
                Metric = Metric.Name,
                Verdict = Verdict.Inconclusive,
                Test = $"{Metric.Provider} reading",
                Threshold = threshold,
                StatisticName = "value",
                Critical = Metric.Max ?? Metric.Min,
                DryRun = Metric.DryRun,
                Reason = $"{Metric.Name}: waiting for the first reading from {Metric.Provider}",
            };
            if (Last is null)
            {
                return check;
            }

            var age = string.Create(CultureInfo.InvariantCulture, $"read {(now - Last.At).TotalSeconds:0.#} s ago");
            if (Last.Error is { } error)
            {
                return check with { Reason = $"{Metric.Name}: {Metric.Provider} could not be read ({age}): {error}" };
            }

            if (Last.Value is not { } value)
            {
                return check with { Reason = $"{Metric.Name}: {Metric.Provider} has no data yet ({age}; query {Last.Query})" };
            }

            check = check with { Statistic = value, Target = new MetricSample { Revision = revision, Value = value } };
            var shown = Number(value);
            if (!OutOfRange(value))
            {
                return check with { Verdict = Verdict.Pass, Reason = $"{Metric.Name} {shown} within {threshold} ({age})" };
            }

            return FailedInARow >= Required
                ? check with
                {
                    Verdict = Verdict.Fail,
                    Conclusive = true,
                    Readings = FailedInARow,
                    Reason = $"{Metric.Name} {shown} outside {threshold}, {FailedInARow} reading(s) in a row ({age}; query {Last.Query})",
                }
                : check with { Reason = $"{Metric.Name} {shown} outside {threshold} ({FailedInARow} of {Required} readings in a row needed to fail; {age})" };
        }

        private bool OutOfRange(double value) => value > Metric.Max || value < Metric.Min;

        private string Threshold() => (Metric.Min, Metric.Max) switch
        {
            ({ } min, { } max) => $"between {Number(min)} and {Number(max)}",
            ({ } min, null) => $"min {Number(min)}",
            (null, { } max) => $"max {Number(max)}",
            _ => "no range (shown only)",
        };

        private static string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
    }
}
