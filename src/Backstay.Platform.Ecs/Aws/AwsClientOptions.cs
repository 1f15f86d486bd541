namespace Backstay.Platform.Ecs.Aws;

/// <summary>Limits of every AWS call: how long one attempt may take and how often a throttled or failed one is retried.</summary>
public sealed record AwsClientOptions
{
    /// <summary>Time one attempt of a call may take before it is abandoned (and retried).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Retries after the first attempt for throttling, 5xx answers, timeouts and network errors.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>Base of the exponential, jittered backoff between attempts.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>
    /// Client-side token buckets per account, region and API group that every attempt takes a token from before it is
    /// sent; by default the process's own (<see cref="AwsRateLimits.Shared"/>), so all its deployments share them. Null sends
    /// without waiting (test set-up).
    /// </summary>
    public AwsRateLimits? RateLimits { get; init; } = AwsRateLimits.Shared;

    /// <summary>
    /// How long one attempt may wait for a token before the call fails, saying so; cancellation ends the wait too. Long
    /// enough for a hundred deployments that start at once to queue for the write groups (5 per second).
    /// </summary>
    public TimeSpan RateLimitWait { get; init; } = TimeSpan.FromMinutes(3);
}
