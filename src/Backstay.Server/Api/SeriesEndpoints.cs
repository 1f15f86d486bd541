using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Backstay.Server.Api;

/// <summary>The analysis limits a chart draws as lines: from the deployment's frozen plan (its background analysis).</summary>
internal sealed record SeriesThresholds(double? ErrorRate, double? LatencyP90Ms, double? LatencyP99Ms, int MinRequests);

/// <summary>One revision's figures at one evaluation, as the API gives it.</summary>
internal sealed record SeriesPointView(
    DateTimeOffset At, int Revision, long? Requests, double? ErrorRate, double? P50Ms, double? P90Ms, double? P95Ms, double? P99Ms, int Weight)
{
    public static SeriesPointView Of(SeriesPoint p) => new(p.At, p.Revision, p.Requests, p.ErrorRate, p.P50Ms, p.P90Ms, p.P95Ms, p.P99Ms, p.Weight);
}

/// <summary>
/// GET /api/deployments/{id}/series: the deployment's chart points of both revisions, oldest first. A deployment that
/// was rolled back carries on with its rollback's points, and a rollback starts with the points of the deployment it
/// undoes, so either page shows the whole story. <c>StableRevision</c> and <c>NewRevision</c> give the colours their
/// meaning: in a rollback the revision it goes back to is the stable one.
/// </summary>
internal sealed record SeriesView(
    int SchemaVersion,
    string DeploymentId,
    DeploymentKind Kind,
    int? FromRevision,
    int ToRevision,
    int StableRevision,
    int? NewRevision,
    DateTimeOffset StartedAt,
    double IntervalMs,
    double WindowMs,
    SeriesThresholds Thresholds,
    DateTimeOffset? FailedAt,
    IReadOnlyList<SeriesPointView> Points);

/// <summary>The SSE <c>series</c> message: a deployment's new chart points, as the series route gives them.</summary>
internal sealed record SeriesEvent(string DeploymentId, IReadOnlyList<SeriesPointView> Points);

internal static class SeriesEndpoints
{
    public static void Map(IEndpointRouteBuilder api, InProcessControlPlane plane) =>
        api.MapGet("/deployments/{id}/series", async (string id, HttpContext context) =>
        {
            var deployment = await ApiEndpoints.RequireDeploymentAsync(plane, id, context.RequestAborted);
            var after = QueryTime(context, "after");
            return ApiJson.Ok(await BuildAsync(plane, deployment, after, context.RequestAborted));
        });

    public static async Task<SeriesView> BuildAsync(InProcessControlPlane plane, Deployment deployment, DateTimeOffset? after, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plane);
        ArgumentNullException.ThrowIfNull(deployment);
        var store = plane.Store;
        var rollback = deployment.Kind == DeploymentKind.Rollback;
        var deploy = rollback && deployment.RollbackOf is { } undoneId ? await store.GetDeploymentAsync(undoneId, cancellationToken) ?? deployment : deployment;
        var related = new[] { deployment.RollbackOf, deployment.RolledBackBy }.OfType<string>();
        var points = new List<SeriesPoint>(await store.ListSeriesAsync(deployment.Id, after, cancellationToken));
        foreach (var other in related)
        {
            points.AddRange(await store.ListSeriesAsync(other, after, cancellationToken));
        }

        var analysis = AnalysisOf(deploy);
        return new SeriesView(
            SchemaVersion: 1,
            DeploymentId: deployment.Id,
            Kind: deployment.Kind,
            FromRevision: deployment.StableRevision,
            ToRevision: deployment.TargetRevision,
            StableRevision: rollback ? deployment.TargetRevision : deployment.StableRevision ?? deployment.TargetRevision,
            NewRevision: rollback ? deployment.StableRevision : deployment.StableRevision is null ? null : deployment.TargetRevision,
            StartedAt: deploy.CreatedAt,
            IntervalMs: SeriesPoint.Spacing(analysis.Interval, TimeSpan.Zero).TotalMilliseconds,
            WindowMs: analysis.Window.TotalMilliseconds,
            Thresholds: new SeriesThresholds(analysis.MaxErrorRate, analysis.MaxLatencyP90?.TotalMilliseconds, analysis.MaxLatencyP99?.TotalMilliseconds, analysis.MinRequests),
            FailedAt: await FailedAtAsync(plane, deploy, cancellationToken),
            Points: [.. points.OrderBy(p => p.At).Select(SeriesPointView.Of)]);
    }

    /// <summary>When the new revision was judged failed: the verdict of the deployment's Failed event, if it has one.</summary>
    private static async Task<DateTimeOffset?> FailedAtAsync(InProcessControlPlane plane, Deployment deployment, CancellationToken cancellationToken)
    {
        if (deployment.Kind != DeploymentKind.Deploy || !deployment.IsFinished && deployment.State != DeploymentState.RollingBack)
        {
            return null;
        }

        var failed = (await plane.ListEventsAsync(deployment.Id, 0, cancellationToken)).FirstOrDefault(e => e.Type == "Failed");
        if (failed is null)
        {
            return null;
        }

        try
        {
            using var data = failed.DataJson is null ? null : JsonDocument.Parse(failed.DataJson);
            return data is not null && data.RootElement.TryGetProperty("verdictAt", out var verdict) && verdict.TryGetDateTimeOffset(out var at) ? at : failed.At;
        }
        catch (JsonException)
        {
            return failed.At;
        }
    }

    /// <summary>The background analysis of the deployment's plan; the defaults when it has none (a manual rollback's plan is filled in as it runs).</summary>
    private static AnalysisSpec AnalysisOf(Deployment deployment)
    {
        try
        {
            return DeploymentPlan.FromJson(deployment.PlanJson).Analysis;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return new AnalysisSpec();
        }
    }

    private static DateTimeOffset? QueryTime(HttpContext context, string name)
    {
        var text = context.Request.Query[name].ToString();
        if (text.Length == 0)
        {
            return null;
        }

        return DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var value)
            ? value
            : throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"'{name}' must be a time in ISO 8601 with an offset (2026-11-21T23:55:37.1+00:00), got '{text}'.");
    }
}
