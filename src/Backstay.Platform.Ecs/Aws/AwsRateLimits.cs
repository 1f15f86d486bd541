using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.RateLimiting;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>
/// One client-side rate limit: the operations of one AWS service that AWS throttles together (one of its token buckets),
/// how many calls may go at once (<paramref name="Burst"/>) and how many per second after that (<paramref name="PerSecond"/>).
/// </summary>
/// <param name="SigningName">The service as it signs ("ecs", "elasticloadbalancing", "monitoring").</param>
/// <param name="Bucket">A name for the group, shown in messages ("service read").</param>
/// <param name="Operations">The operations in the group; empty: every operation of the service no other group of it names.</param>
public sealed record AwsRateLimit(string SigningName, string Bucket, IReadOnlyList<string> Operations, int Burst, double PerSecond);

/// <summary>
/// Client-side token buckets, one per account, region and API group (<see cref="AwsRateLimit"/>), shared by every AWS
/// client that uses the same instance; <see cref="Shared"/>, the default, is shared by every deployment of the process.
/// A call waits for a token (its cancellation and <see cref="AwsClientOptions.RateLimitWait"/> end the wait) rather than
/// being sent and throttled by AWS; a throttling answer empties its bucket, so the other callers of the process slow down
/// too, not only the one that is retried.
/// </summary>
public sealed class AwsRateLimits : IDisposable
{
    /// <summary>
    /// Near AWS's steady rates per account and region, with smaller bursts. Documented: ELB's Describe* share a bucket of 40
    /// refilled 10 per second; ECS reads are refilled 20 per second (DescribeClusters' bucket of 50 refilled at 20 is its
    /// documented example). Assumed (not confirmed from AWS's pages here): ECS writes, task definitions and tags 5 per
    /// second, ELB's mutating calls 3, CloudWatch DescribeAlarms 9 and GetMetricData 25 (half the 50 its quotas are
    /// remembered as), Application Auto Scaling and ECR 10. docs/ecs.md lists them; AwsClientOptions.RateLimits takes others.
    /// </summary>
    public static IReadOnlyList<AwsRateLimit> Defaults { get; } =
    [
        new("ecs", "service read", ["DescribeServices", "ListServices"], Burst: 40, PerSecond: 20),
        new("ecs", "cluster resource read", ["DescribeTasks", "ListTasks", "DescribeTaskSets", "DescribeContainerInstances", "ListContainerInstances"], Burst: 40, PerSecond: 20),
        new("ecs", "task definition read", ["DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"], Burst: 20, PerSecond: 10),
        new("ecs", "task definition write", ["RegisterTaskDefinition", "DeregisterTaskDefinition"], Burst: 10, PerSecond: 5),
        new("ecs", "service write", ["CreateService", "UpdateService", "DeleteService", "CreateTaskSet", "UpdateTaskSet", "DeleteTaskSet", "UpdateServicePrimaryTaskSet"], Burst: 10, PerSecond: 5),
        new("ecs", "tags", ["TagResource", "UntagResource", "ListTagsForResource"], Burst: 10, PerSecond: 5),
        new("ecs", "other", [], Burst: 10, PerSecond: 5),
        new("elasticloadbalancing", "describe", ["DescribeListeners", "DescribeRules", "DescribeTargetGroups", "DescribeTargetHealth", "DescribeLoadBalancers"], Burst: 20, PerSecond: 10),
        new("elasticloadbalancing", "mutating", [], Burst: 10, PerSecond: 3),
        new("monitoring", "DescribeAlarms", ["DescribeAlarms"], Burst: 9, PerSecond: 9),
        new("monitoring", "GetMetricData", ["GetMetricData"], Burst: 25, PerSecond: 25),
        new("monitoring", "other", [], Burst: 10, PerSecond: 5),
        new("application-autoscaling", "all", [], Burst: 10, PerSecond: 10),
        new("ecr", "all", [], Burst: 10, PerSecond: 10),
    ];

    private static readonly AwsRateLimit Fallback = new("*", "other", [], Burst: 10, PerSecond: 5);

    /// <summary>The buckets of this process, shared by every platform, image resolver and deployment in it.</summary>
    public static AwsRateLimits Shared { get; } = new(Defaults);

    private readonly IReadOnlyList<AwsRateLimit> _limits;
    private readonly ConcurrentDictionary<(string Account, string Region, string Service, string Bucket), Entry> _buckets = new();
    private long _waits;
    private long _waitedTicks;
    private long _throttled;
    private long _putOff;

    public AwsRateLimits(IReadOnlyList<AwsRateLimit> limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        _limits = limits;
    }

    /// <summary>Calls that had to wait for a token.</summary>
    public long Waits => Interlocked.Read(ref _waits);

    /// <summary>How long calls waited for tokens, added up.</summary>
    public TimeSpan Waited => TimeSpan.FromSeconds(Interlocked.Read(ref _waitedTicks) / (double)Stopwatch.Frequency);

    /// <summary>Watching reads put off because their bucket had no token then (their callers took an older answer).</summary>
    public long PutOff => Interlocked.Read(ref _putOff);

    /// <summary>Throttling answers AWS gave despite the buckets (each emptied its bucket).</summary>
    public long Throttled => Interlocked.Read(ref _throttled);

    /// <summary>The group an operation of a service falls in: the one naming it, else the service's catch-all, else a default.</summary>
    public AwsRateLimit LimitOf(string signingName, string operation) =>
        _limits.FirstOrDefault(l => l.SigningName == signingName && l.Operations.Contains(operation, StringComparer.Ordinal))
        ?? _limits.FirstOrDefault(l => l.SigningName == signingName && l.Operations.Count == 0)
        ?? Fallback with { SigningName = signingName };

    /// <summary>
    /// Takes a token for one call of the operation, waiting when the bucket is empty (oldest waiter first) for at most
    /// <paramref name="timeout"/>; throws <see cref="OperationCanceledException"/> when the caller cancels and
    /// <see cref="PlatformException"/> when the wait runs out.
    /// </summary>
    internal async ValueTask AcquireAsync(string account, string region, AwsService service, string operation, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var entry = EntryFor(account, region, service.SigningName, operation);
        using (var lease = entry.Limiter.AttemptAcquire(1))
        {
            if (lease.IsAcquired)
            {
                return;
            }
        }

        var started = Stopwatch.GetTimestamp();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(timeout);
        try
        {
            using var lease = await entry.Limiter.AcquireAsync(1, bounded.Token);
            if (!lease.IsAcquired)
            {
                throw new PlatformException($"{service.DisplayName} {operation} found no room in the client-side rate limit of {Describe(entry.Limit)} in {region} (its queue is full).");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PlatformException(
                $"{service.DisplayName} {operation} waited {timeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)}s for the client-side rate limit of {Describe(entry.Limit)} in {region} " +
                $"({entry.Limiter.GetStatistics()?.CurrentQueuedCount ?? 0} call(s) still waiting): more deployments run at once in this process than the account's API rate carries. " +
                "Run fewer at once, or raise the limit with AWS and in Backstay's AwsClientOptions.");
        }
        finally
        {
            Interlocked.Increment(ref _waits);
            Interlocked.Add(ref _waitedTicks, Stopwatch.GetTimestamp() - started);
        }
    }

    /// <summary>Takes a token for one call if one is there now (and no caller waits for one); never waits.</summary>
    internal bool TryAcquireNow(string account, string region, AwsService service, string operation)
    {
        using var lease = EntryFor(account, region, service.SigningName, operation).Limiter.AttemptAcquire(1);
        if (!lease.IsAcquired)
        {
            Interlocked.Increment(ref _putOff);
        }

        return lease.IsAcquired;
    }

    /// <summary>AWS throttled a call despite the bucket (other clients of the account use it too): the bucket is emptied, so every caller waits for it to refill.</summary>
    internal void OnThrottled(string account, string region, AwsService service, string operation)
    {
        Interlocked.Increment(ref _throttled);
        var limiter = EntryFor(account, region, service.SigningName, operation).Limiter;
        var available = limiter.GetStatistics()?.CurrentAvailablePermits ?? 0;
        if (available > 0)
        {
            limiter.AttemptAcquire((int)Math.Min(available, int.MaxValue)).Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var entry in _buckets.Values)
        {
            entry.Limiter.Dispose();
        }

        _buckets.Clear();
    }

    private Entry EntryFor(string account, string region, string signingName, string operation)
    {
        var limit = LimitOf(signingName, operation);
        return _buckets.GetOrAdd((account, region, signingName, limit.Bucket), _ => new Entry(limit, new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, limit.Burst),
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1 / Math.Max(0.001, limit.PerSecond)),
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        })));
    }

    private static string Describe(AwsRateLimit limit) =>
        string.Create(CultureInfo.InvariantCulture, $"{limit.SigningName} {limit.Bucket} ({limit.PerSecond:0.#} per second, bursts of {limit.Burst})");

    private sealed record Entry(AwsRateLimit Limit, TokenBucketRateLimiter Limiter);
}
