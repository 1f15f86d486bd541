using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine;

/// <summary>
/// The chart series of a running deployment: at each evaluation, one point per revision (stable and target) with its
/// production weight and its figures over the analysis window, both written in one batch, spaced by
/// <see cref="SeriesPoint.Spacing"/>; the store's cap (<see cref="SeriesPoint.MaxPerDeployment"/>) is the backstop.
/// </summary>
internal sealed class SeriesRecorder(DeploymentContext context)
{
    private DateTimeOffset _last = DateTimeOffset.MinValue;

    /// <summary>
    /// Records a point per revision when the spacing has passed (or at once when <paramref name="force"/>: the evaluation
    /// that fails the revision). <paramref name="targetMetrics"/> are the target's figures when the caller read them.
    /// A platform that cannot give the figures is logged and skipped (the chart has a gap there): a chart never stops a
    /// deployment. A store write fails as every other write of the runner does.
    /// </summary>
    public async Task RecordAsync(RevisionMetrics? targetMetrics, CancellationToken cancellationToken, bool force = false)
    {
        var deployment = context.Deployment;
        if (context.Stable is not { } stable || context.Target is not { } target || stable.Number == target.Number || deployment.Kind == DeploymentKind.Reset)
        {
            return;
        }

        var now = context.Time.GetUtcNow();
        var analysis = context.Plan.Analysis;
        if (!force && now - _last < SeriesPoint.Spacing(analysis.Interval, now - deployment.CreatedAt))
        {
            return;
        }

        _last = now;
        try
        {
            var targetWeight = Math.Clamp(deployment.TargetWeight, 0, 100);
            var signals = context.Platform.Signals;
            targetMetrics ??= targetWeight > 0
                ? await signals.GetMetricsAsync(context.Service, target.Number, analysis.Window, context.TargetTrafficSince, cancellationToken)
                : null;
            var stableMetrics = targetWeight < 100
                ? await signals.GetMetricsAsync(context.Service, stable.Number, analysis.Window, null, cancellationToken)
                : null;
            await context.Store.AppendSeriesAsync(
                [Point(stable.Number, 100 - targetWeight, stableMetrics, now), Point(target.Number, targetWeight, targetMetrics, now)],
                cancellationToken);
        }
        catch (PlatformException ex)
        {
            EngineLog.SeriesFailed(context.Logger, ex, deployment.Id, context.Service);
        }
    }

    private SeriesPoint Point(int revision, int weight, RevisionMetrics? metrics, DateTimeOffset at) => new()
    {
        DeploymentId = context.Deployment.Id,
        At = at,
        Revision = revision,
        Weight = weight,
        Requests = metrics?.Requests,
        ErrorRate = metrics is null ? null : metrics.ErrorRate,
        P50Ms = metrics?.LatencyP50Ms,
        P90Ms = metrics?.LatencyP90Ms,
        P95Ms = metrics?.LatencyP95Ms,
        P99Ms = metrics?.LatencyP99Ms,
    };
}
