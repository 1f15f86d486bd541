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
}
