using System.Text;
using Backstay.Core.Control;
using Backstay.Core.Model;
using Backstay.Server.Api;
using Microsoft.Extensions.Hosting;

namespace Backstay.Server.Observability;

/// <summary>
/// GET /api/events: Server-Sent Events of deployment events. The store is polled (every 200 ms) for active
/// deployments and those finished in the last minute; each new event goes out once as `event: deployment` with its
/// sequence as the id. Every second the new chart points of active deployments go out as `event: series` (no id, so
/// they leave Last-Event-ID alone). A comment every 15 s keeps proxies from closing an idle stream.
/// </summary>
internal sealed class EventStream(InProcessControlPlane plane, TimeProvider time, IHostApplicationLifetime lifetime)
{
    /// <summary>How often the chart points of active deployments are looked for: the engine takes them a second apart at most.</summary>
    public static readonly TimeSpan SeriesInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// On connect, points from this far back go out for deployments already running, so a page that read the series
    /// route just before misses none (the page drops those it has).
    /// </summary>
    public static readonly TimeSpan SeriesOverlap = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(15);
    public static readonly TimeSpan RecentlyFinished = TimeSpan.FromMinutes(1);

    public async Task StreamAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Ends when the client goes, and when the controller stops (an open stream must not hold up shutdown).
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = ending.Token;
        var resumeAfter = ResumePoint(context.Request);

        var response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();

        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        var seriesSeen = new Dictionary<string, DateTimeOffset?>(StringComparer.Ordinal);
        var lastSeries = DateTimeOffset.MinValue;
        var first = true;
        var lastWrite = time.GetUtcNow();
        try
        {
            await WriteAsync(response, "retry: 2000\n: connected\n\n", cancellationToken);
            using var timer = new PeriodicTimer(PollInterval, time);
            do
            {
                var text = new StringBuilder();
                var watched = await WatchedAsync(cancellationToken);
                foreach (var deployment in watched)
                {
                    var known = seen.TryGetValue(deployment.Id, out var after);
                    if (!known)
                    {
                        // On connect, the past is what the REST API is for, unless the client resumes (Last-Event-ID);
                        // a deployment that appears later is new, and all of its events are.
                        after = first ? resumeAfter ?? long.MaxValue : 0;
                    }

                    var events = await plane.ListEventsAsync(deployment.Id, after == long.MaxValue ? 0 : after, cancellationToken);
                    if (after == long.MaxValue)
                    {
                        seen[deployment.Id] = events.Count > 0 ? events[^1].Sequence : 0;
                        continue;
                    }

                    foreach (var e in events)
                    {
                        text.Append(Format(e));
                    }

                    seen[deployment.Id] = events.Count > 0 ? events[^1].Sequence : after;
                }

                var now = time.GetUtcNow();
                if (now - lastSeries >= SeriesInterval)
                {
                    lastSeries = now;
                    await AppendSeriesAsync(text, watched, seriesSeen, first, now, cancellationToken);
                }

                first = false;
                if (text.Length == 0 && now - lastWrite >= HeartbeatInterval)
                {
                    text.Append(": heartbeat\n\n");
                }

                if (text.Length > 0)
                {
                    await WriteAsync(response, text.ToString(), cancellationToken);
                    lastWrite = now;
                }

                // A deployment leaves the watch a minute after it finished and never comes back: forget it.
                foreach (var gone in seen.Keys.Where(id => watched.All(d => d.Id != id)).ToList())
                {
                    seen.Remove(gone);
                }

                foreach (var gone in seriesSeen.Keys.Where(id => watched.All(d => d.Id != id || !d.IsActive)).ToList())
                {
                    seriesSeen.Remove(gone);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (IOException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
    }

    /// <summary>One SSE message: the event as the API's JSON, its sequence as the id.</summary>
    public static string Format(DeploymentEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return string.Create(CultureInfo.InvariantCulture,
            $"id: {e.Sequence}\nevent: deployment\ndata: {BackstayJson.Serialize(e, ApiJson.Options)}\n\n");
    }

    /// <summary>One SSE message of a deployment's new chart points, as the series route gives them.</summary>
    public static string FormatSeries(string deploymentId, IReadOnlyList<SeriesPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var data = BackstayJson.Serialize(new SeriesEvent(deploymentId, [.. points.Select(SeriesPointView.Of)]), ApiJson.Options);
        return $"event: series\ndata: {data}\n\n";
    }

    /// <summary>The points each active deployment took since the last look; a deployment found on connect starts a little in the past.</summary>
    private async Task AppendSeriesAsync(StringBuilder text, List<Deployment> watched, Dictionary<string, DateTimeOffset?> seen, bool first, DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var deployment in watched.Where(d => d.IsActive))
        {
            if (!seen.TryGetValue(deployment.Id, out var after))
            {
                after = first ? now - SeriesOverlap : null;
            }

            var points = await plane.Store.ListSeriesAsync(deployment.Id, after, cancellationToken);
            if (points.Count > 0)
            {
                text.Append(FormatSeries(deployment.Id, points));
                after = points[^1].At;
            }

            seen[deployment.Id] = after;
        }
    }

    private async Task<List<Deployment>> WatchedAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var active = await plane.ListActiveDeploymentsAsync(cancellationToken);
        var recent = (await plane.ListDeploymentsAsync(null, 100, cancellationToken))
            .Where(d => d.IsFinished && d.FinishedAt is { } f && now - f <= RecentlyFinished);
        return [.. active.Concat(recent).DistinctBy(d => d.Id)];
    }

    private static long? ResumePoint(HttpRequest request)
    {
        var text = request.Headers["Last-Event-ID"].ToString();
        if (text.Length == 0)
        {
            text = request.Query["after"].ToString();
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    private static async Task WriteAsync(HttpResponse response, string text, CancellationToken cancellationToken)
    {
        await response.WriteAsync(text, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}
