using Backstay.Core.Analysis;
using Backstay.Core.Metrics;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Microsoft.Extensions.Logging;

namespace Backstay.Core.Engine;

/// <summary>
/// What every step of one deployment shares: the ports it acts through, the deployment as last saved, its plan, and
/// the two revisions it moves between. The <see cref="Record"/> writes, the <see cref="Watchdog"/> watches; a step
/// only decides and acts.
/// </summary>
internal sealed class DeploymentContext
{
    public DeploymentContext(IStateStore store, IPlatform platform, TimeProvider time, ILogger logger, EngineTimings timings, Deployment deployment)
    {
        Store = store;
        Platform = platform;
        Time = time;
        Logger = logger;
        Timings = timings;
        Deployment = deployment;
        Plan = DeploymentPlan.FromJson(deployment.PlanJson);
        Record = new Recorder(this);
        Watchdog = new Watchdog(this);
    }

    public IStateStore Store { get; }

    public IPlatform Platform { get; }

    public TimeProvider Time { get; }

    public ILogger Logger { get; }

    public EngineTimings Timings { get; }

    public Recorder Record { get; }

    public Watchdog Watchdog { get; }

    /// <summary>The deployment as last saved; only <see cref="Recorder.SaveAsync"/> replaces it.</summary>
    public Deployment Deployment { get; set; }

    /// <summary>The plan; a manual rollback starts with an empty one and fills it in when it runs.</summary>
    public DeploymentPlan Plan { get; set; }

    /// <summary>The revision this deployment brings to production (for a rollback: the one it restores).</summary>
    public Revision Target { get; set; } = null!;

    /// <summary>The revision serving before it (for a rollback: the failed one), or null for a first deployment.</summary>
    public Revision? Stable { get; set; }

    /// <summary>Since when the target has had production traffic: background analysis and alarms judge it from then on.</summary>
    public DateTimeOffset? TargetTrafficSince { get; set; }

    /// <summary>Set by `continue --full`: the remaining pauses, waits and analyses are skipped.</summary>
    public bool SkipPauses { get; set; }

    public string Service => Deployment.Service;

    public bool IsRollback => Deployment.Kind == DeploymentKind.Rollback;

    /// <summary>Only a deployment of a new revision is judged; rollbacks and resets restore what was known good.</summary>
    public bool Watches => Deployment.Kind == DeploymentKind.Deploy;

    /// <summary>
    /// Reads the target's production figures since it got traffic and judges them; when the spec compares with the stable
    /// revision, the stable revision's figures over the same window too.
    /// </summary>
    public async Task<AnalysisResult> JudgeAsync(AnalysisSpec spec, CancellationToken cancellationToken)
    {
        var metrics = await Platform.Signals.GetMetricsAsync(Service, Target.Number, spec.Window, TargetTrafficSince, cancellationToken);
        var compares = spec.MaxErrorRateIncrease is not null || spec.MaxLatencyIncrease is not null;
        var baseline = compares && Stable is { } stable
            ? await Platform.Signals.GetMetricsAsync(Service, stable.Number, spec.Window, TargetTrafficSince, cancellationToken)
            : null;
        var result = AnalysisEvaluator.Evaluate(spec, metrics, baseline);
        if (spec.Metrics.Count == 0)
        {
            return result;
        }

        var query = new MetricQuery(Service, Target.Number, Stable?.Number, spec.Window, Time.GetUtcNow());
        return AnalysisEvaluator.Combine([.. result.Checks, .. MetricReadings.Check(spec, query)], metrics) with { Comparison = result.Comparison };
    }

    /// <summary>The custom metrics' readings (analysis.metrics), made by the platform's providers before the built-in ones.</summary>
    private MetricReadings MetricReadings => _metricReadings ??= new MetricReadings(
        [.. Platform.MetricProviders, new PrometheusMetricProvider(), new WebMetricProvider()], Time);

    private MetricReadings? _metricReadings;

    public async Task<InstanceSet?> GetSetAsync(int revision, CancellationToken cancellationToken) =>
        (await Platform.Compute.ListAsync(Service, cancellationToken)).FirstOrDefault(s => s.Revision == revision);

    /// <summary>Instances of a revision that are not dead (or only the healthy ones); 0 for no revision.</summary>
    public async Task<int> CountAsync(int? revision, bool healthyOnly, CancellationToken cancellationToken)
    {
        if (revision is null)
        {
            return 0;
        }

        var set = await GetSetAsync(revision.Value, cancellationToken);
        return set is null ? 0 : healthyOnly ? set.HealthyCount : set.Instances.Count(i => i.Health != InstanceHealth.Dead);
    }

    public async Task<Revision> RequireRevisionAsync(int number, CancellationToken cancellationToken) =>
        await Store.GetRevisionAsync(Service, number, cancellationToken)
        ?? throw new InvalidOperationException($"Revision {number} of service '{Service}' is not in the store.");

    /// <summary>Production weights with the target at <paramref name="targetWeight"/> and the stable revision the rest.</summary>
    public Dictionary<int, int> Weights(int targetWeight)
    {
        if (Stable is null || Stable.Number == Target.Number)
        {
            return new Dictionary<int, int> { [Target.Number] = 100 };
        }

        return new Dictionary<int, int> { [Target.Number] = targetWeight, [Stable.Number] = 100 - targetWeight };
    }

    /// <summary>The deployment as it ends, in <paramref name="state"/>; saved by the caller.</summary>
    public Deployment Finish(DeploymentState state, string? reason) =>
        Deployment with { State = state, Reason = reason ?? Deployment.Reason, FinishedAt = Time.GetUtcNow() };
}
