using System.Collections.Concurrent;
using Backstay.Platform.Ecs.Aws.ApplicationAutoScaling;
using Backstay.Platform.Ecs.Aws.CloudWatch;
using Backstay.Platform.Ecs.Aws.Ecr;
using Backstay.Platform.Ecs.Aws.ElasticLoadBalancingV2;
using Microsoft.Extensions.Logging;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>The typed clients of one region.</summary>
internal sealed class AwsClients
{
    public AwsClients(AwsHttpClient http, AwsEnvironment environment, string region)
    {
        Region = region;
        Http = http;
        Ecs = new EcsClient(new JsonServiceClient(http, AwsService.Ecs, Endpoint(environment, AwsService.Ecs, region), AwsJson.CamelCase));
        Elb = new ElbClient(new QueryServiceClient(http, AwsService.ElasticLoadBalancingV2, Endpoint(environment, AwsService.ElasticLoadBalancingV2, region)));
        CloudWatch = new CloudWatchClient(new QueryServiceClient(http, AwsService.CloudWatch, Endpoint(environment, AwsService.CloudWatch, region)));
        AutoScaling = new AutoScalingClient(new JsonServiceClient(http, AwsService.ApplicationAutoScaling,
            Endpoint(environment, AwsService.ApplicationAutoScaling, region), AwsJson.PascalCase));
        Ecr = new EcrClient(new JsonServiceClient(http, AwsService.Ecr, Endpoint(environment, AwsService.Ecr, region), AwsJson.CamelCase));
        Ec2 = new QueryServiceClient(http, AwsService.Ec2, Endpoint(environment, AwsService.Ec2, region));
    }

    public string Region { get; }

    public AwsHttpClient Http { get; }

    public EcsClient Ecs { get; }

    public ElbClient Elb { get; }

    public CloudWatchClient CloudWatch { get; }

    public AutoScalingClient AutoScaling { get; }

    public EcrClient Ecr { get; }

    /// <summary>Only for test set-up (VPCs and subnets); Backstay never calls EC2.</summary>
    public QueryServiceClient Ec2 { get; }

    private static AwsEndpoint Endpoint(AwsEnvironment environment, AwsService service, string region)
    {
        var uri = environment.ResolveEndpoint(service, region);
        return new AwsEndpoint(uri, region, !uri.Host.EndsWith(".amazonaws.com", StringComparison.Ordinal) && !uri.Host.EndsWith(".amazonaws.com.cn", StringComparison.Ordinal));
    }
}

/// <summary>Creates and keeps one set of clients per region over one HTTP client and one retry policy.</summary>
internal sealed class AwsClientFactory : IDisposable
{
    private readonly HttpClient _httpClient;
    private readonly ConcurrentDictionary<string, AwsClients> _byRegion = new(StringComparer.Ordinal);

    public AwsClientFactory(AwsEnvironment environment, IAwsCredentialSource credentials, TimeProvider time, AwsClientOptions options, ILogger logger,
        HttpMessageHandler? handler = null)
    {
        Environment = environment;
        _httpClient = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _httpClient.Timeout = Timeout.InfiniteTimeSpan;
        Http = new AwsHttpClient(_httpClient, credentials, time, options, logger);
    }

    public AwsEnvironment Environment { get; }

    public AwsHttpClient Http { get; }

    public AwsClients ForRegion(string region) => _byRegion.GetOrAdd(region, r => new AwsClients(Http, Environment, r));

    public void Dispose() => _httpClient.Dispose();
}
