using System.Collections;
using Amazon.Runtime;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>
/// Where requests go: the region (spec, flag, AWS_REGION, AWS_DEFAULT_REGION, then the shared config profile) and
/// each service's endpoint, honouring AWS_ENDPOINT_URL_&lt;SERVICE&gt; and AWS_ENDPOINT_URL the way the AWS SDKs and CLI do.
/// </summary>
internal sealed class AwsEnvironment
{
    private readonly IReadOnlyDictionary<string, string> _variables;

    public AwsEnvironment(IReadOnlyDictionary<string, string>? variables = null)
    {
        _variables = variables ?? ReadProcessEnvironment();
    }

    public string? this[string name] => _variables.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    /// <summary>The region to use; throws a <see cref="Backstay.Core.Ports.PlatformException"/> saying how to set one when none is found.</summary>
    public string ResolveRegion(string? fromSpec, string? fromFlag, bool useSharedConfig = true)
    {
        var region = fromSpec ?? fromFlag ?? this["AWS_REGION"] ?? this["AWS_DEFAULT_REGION"];
        if (region is null && useSharedConfig)
        {
            try
            {
                region = FallbackRegionFactory.GetRegionEndpoint()?.SystemName;
            }
            catch (AmazonClientException)
            {
                region = null;
            }
        }

        return region ?? throw new Core.Ports.PlatformException(
            "No AWS region is set: add `region:` under platform.ecs in the spec, pass --region, or set AWS_REGION.");
    }

    /// <summary>The endpoint of a service in a region: the service's own variable first, then the global one, then AWS's public endpoint.</summary>
    public Uri ResolveEndpoint(AwsService service, string region)
    {
        ArgumentNullException.ThrowIfNull(service);
        var ignore = this["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"];
        if (!string.Equals(ignore, "true", StringComparison.OrdinalIgnoreCase))
        {
            var configured = this["AWS_ENDPOINT_URL_" + service.EnvironmentId] ?? this["AWS_ENDPOINT_URL"];
            if (configured is not null)
            {
                return Uri.TryCreate(configured, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                    ? uri
                    : throw new Core.Ports.PlatformException(
                        $"The endpoint URL '{configured}' for {service.DisplayName} is not an http(s) URL; fix AWS_ENDPOINT_URL_{service.EnvironmentId} or AWS_ENDPOINT_URL.");
            }
        }

        var suffix = region.StartsWith("cn-", StringComparison.Ordinal) ? "amazonaws.com.cn" : "amazonaws.com";
        return new Uri($"https://{service.EndpointPrefix}.{region}.{suffix}/");
    }

    private static Dictionary<string, string> ReadProcessEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                result[key] = value;
            }
        }

        return result;
    }
}
