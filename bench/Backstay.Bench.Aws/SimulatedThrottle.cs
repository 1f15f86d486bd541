using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.RateLimiting;
using System.Web;
using Backstay.Platform.Ecs.Aws;

namespace Backstay.Bench.Aws;

/// <summary>
/// Stands in for AWS's own throttling in front of moto (which throttles nothing): per API group, a token bucket with the
/// refill rate of <see cref="AwsRateLimits.Defaults"/> and twice its burst, for the one account and region of the bench;
/// a request finding its bucket empty is answered 400 ThrottlingException (JSON services) or Throttling (Query
/// services) without reaching moto, as AWS answers. Counts what passed and what was throttled, per second and per group.
/// </summary>
internal sealed partial class SimulatedThrottle : DelegatingHandler
{
    private readonly AwsRateLimits _groups = new(AwsRateLimits.Defaults);
    private readonly ConcurrentDictionary<string, TokenBucketRateLimiter> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(long Second, string Group), int> _sent = new();
    private readonly ConcurrentDictionary<string, int> _throttledByGroup = new(StringComparer.Ordinal);
    private long _started = Stopwatch.GetTimestamp();
    private int _throttled;

    public SimulatedThrottle()
        : base(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
    }

    public int Throttled => _throttled;

    public IReadOnlyDictionary<string, int> ThrottledByGroup => _throttledByGroup;

    /// <summary>Requests that passed, per whole second since <see cref="Reset"/> and per group ("ecs service read").</summary>
    public IReadOnlyDictionary<(long Second, string Group), int> Sent => _sent;

    public void Reset()
    {
        _sent.Clear();
        _throttledByGroup.Clear();
        Interlocked.Exchange(ref _throttled, 0);
        Interlocked.Exchange(ref _started, Stopwatch.GetTimestamp());
    }

    /// <summary>The simulated bucket of a group: same refill as the client's, twice its burst.</summary>
    public static (int Burst, double PerSecond) ServerLimit(AwsRateLimit client) => (client.Burst * 2, client.PerSecond);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (service, operation) = await IdentifyAsync(request, cancellationToken);
        var limit = _groups.LimitOf(service, operation);
        var group = $"{limit.SigningName} {limit.Bucket}";
        var bucket = _buckets.GetOrAdd(group, _ =>
        {
            var (burst, perSecond) = ServerLimit(limit);
            return new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = burst,
                TokensPerPeriod = 1,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1 / perSecond),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
        });
        using var lease = bucket.AttemptAcquire(1);
        if (!lease.IsAcquired)
        {
            Interlocked.Increment(ref _throttled);
            _throttledByGroup.AddOrUpdate(group, 1, (_, n) => n + 1);
            var json = request.Headers.Contains("X-Amz-Target");
            return new HttpResponseMessage(HttpStatusCode.BadRequest)
            {
                RequestMessage = request,
                Content = new StringContent(json
                    ? "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}"
                    : "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>", Encoding.UTF8),
            };
        }

        var second = (long)Stopwatch.GetElapsedTime(Interlocked.Read(ref _started)).TotalSeconds;
        _sent.AddOrUpdate((second, group), 1, (_, n) => n + 1);
        return await base.SendAsync(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var bucket in _buckets.Values)
            {
                bucket.Dispose();
            }

            _groups.Dispose();
        }

        base.Dispose(disposing);
    }

    private static async Task<(string Service, string Operation)> IdentifyAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var authorization = request.Headers.TryGetValues("Authorization", out var a) ? a.FirstOrDefault() ?? "" : "";
        var match = ScopePattern().Match(authorization);
        var service = match.Success ? match.Groups["service"].Value : "?";
        if (request.Headers.TryGetValues("X-Amz-Target", out var targets) && targets.FirstOrDefault() is { } target)
        {
            return (service, target[(target.LastIndexOf('.') + 1)..]);
        }

        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        return (service, HttpUtility.ParseQueryString(body)["Action"] ?? "?");
    }

    [GeneratedRegex(@"Credential=[^/]+/[^/]+/[^/]+/(?<service>[^/]+)/aws4_request")]
    private static partial Regex ScopePattern();
}
