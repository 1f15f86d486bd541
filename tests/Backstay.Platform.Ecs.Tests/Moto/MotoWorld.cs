using System.Globalization;
using System.Text.Json;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Aws.ApplicationAutoScaling;
using Backstay.Platform.Ecs.Aws.Ecs;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>
/// What a user prepares before Backstay runs, created in moto through the AWS APIs: an ECS cluster (with one EC2
/// container instance, as moto places task-set tasks only on one), a VPC with two subnets, an application load
/// balancer with a production and a test listener forwarding to the blue target group, a green target group, and a
/// CloudWatch alarm. Every name carries a suffix, so tests sharing one moto server do not meet.
/// </summary>
public sealed class MotoWorld : IDisposable
{
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private readonly AwsClientFactory _factory;

    private MotoWorld(string name, Uri? endpoint)
    {
        Name = name;
        var environment = endpoint is null ? new AwsEnvironment() : new AwsEnvironment(new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["AWS_ENDPOINT_URL"] = endpoint.ToString(),
            ["AWS_REGION"] = MotoServer.Region,
        });
        _factory = new AwsClientFactory(environment, new StaticCredentialSource(new AwsCredentials("testing", "testing")),
            TimeProvider.System, new AwsClientOptions { MaxRetries = 1, RateLimits = null }, NullLogger.Instance);
        Aws = _factory.ForRegion(MotoServer.Region);
    }

    public string Name { get; }

    /// <summary>Clients for set-up and for checking what Backstay did; not counted with Backstay's own calls.</summary>
    internal AwsClients Aws { get; }

    public string Cluster => $"{Name}-cluster";

    public string Service => Name;

    public string AlarmName => $"{Name}-5xx";

    public string VpcId { get; private set; } = "";

    public IReadOnlyList<string> Subnets { get; private set; } = [];

    public string LoadBalancerArn { get; private set; } = "";

    public string ProductionListener { get; private set; } = "";

    public string TestListener { get; private set; } = "";

    public string Blue { get; private set; } = "";

    public string Green { get; private set; } = "";

    /// <param name="endpoint">Another moto server than the collection's (one started with settings of its own).</param>
    public static async Task<MotoWorld> CreateAsync(string prefix, Uri? endpoint = null)
    {
        var world = new MotoWorld($"{prefix}-{Guid.NewGuid().ToString("N")[..8]}", endpoint);
        await world.SetUpAsync().WaitAsync(CallTimeout);
        return world;
    }

    /// <summary>A spec for the world's service with the given strategy and short timings for tests on real time.</summary>
    public ServiceSpec Spec(StrategySpec? strategy = null, int instances = 2, bool alarms = true, bool testListener = true) => new()
    {
        Service = Service,
        Platform = new PlatformSpec
        {
            Ecs = new EcsPlatformSpec
            {
                Cluster = Cluster,
                Region = MotoServer.Region,
                Container = "web",
                DesiredCount = instances,
                LoadBalancer = new EcsLoadBalancerSpec
                {
                    ProductionListener = ProductionListener,
                    TestListener = testListener ? TestListener : null,
                    TargetGroups = [Blue, Green],
                },
                Alarms = alarms ? [AlarmName] : [],
            },
        },
        Task = new TaskSpec { Image = "public.ecr.aws/nginx/nginx:1.27", Port = 8080, Env = new Dictionary<string, string> { ["GREETING"] = "hi" }, StartTimeout = TimeSpan.FromSeconds(20) },
        Strategy = strategy ?? new StrategySpec { BlueGreen = new BlueGreenSpec { TestTraffic = true, Bake = TimeSpan.FromSeconds(1), KeepPreviousFor = TimeSpan.FromSeconds(1) } },
        Analysis = new AnalysisSpec { Window = TimeSpan.FromSeconds(2), MinRequests = 20, Interval = TimeSpan.FromMilliseconds(250) },
    };

    /// <summary>The spec of a rolling deployment through the ECS deployment controller: one target group, no test listener.</summary>
    public ServiceSpec NativeSpec(int instances = 3)
    {
        var spec = Spec(new StrategySpec { Rolling = new RollingSpec() }, instances, testListener: false);
        return spec with
        {
            Platform = new PlatformSpec
            {
                Ecs = spec.Platform.Ecs! with
                {
                    DeploymentController = EcsDeploymentControllers.Ecs,
                    LaunchType = "EC2",
                    LoadBalancer = spec.Platform.Ecs.LoadBalancer! with { TargetGroups = [Blue] },
                },
            },
        };
    }

    /// <summary>Production listener weights per target group, read straight from ELB.</summary>
    public async Task<Dictionary<string, int>> ListenerWeightsAsync(string? listener = null)
    {
        var listeners = await Aws.Elb.DescribeListenersAsync([listener ?? ProductionListener], CancellationToken.None).WaitAsync(CallTimeout);
        return ListenerWeights.Read(listeners.Single().DefaultActions);
    }

    public async Task SetAlarmStateAsync(string state)
    {
        await Aws.CloudWatch.Raw.CallAsync("SetAlarmState",
            [new("AlarmName", AlarmName), new("StateValue", state), new("StateReason", $"set by the test to {state}")], CancellationToken.None).WaitAsync(CallTimeout);
    }

    internal async Task<Service?> DescribeServiceAsync()
    {
        var described = await Aws.Ecs.DescribeServicesAsync(new DescribeServicesRequest { Cluster = Cluster, Services = [Service], Include = ["TAGS"] },
            CancellationToken.None).WaitAsync(CallTimeout);
        return described.Services.FirstOrDefault();
    }

    internal async Task<ScalableTarget?> ScalableTargetAsync()
    {
        var targets = await Aws.AutoScaling.DescribeScalableTargetsAsync(new DescribeScalableTargetsRequest
        {
            ServiceNamespace = "ecs",
            ResourceIds = [$"service/{Cluster}/{Service}"],
            ScalableDimension = "ecs:service:DesiredCount",
        }, CancellationToken.None).WaitAsync(CallTimeout);
        return targets.ScalableTargets.FirstOrDefault();
    }

    public async Task RegisterScalableTargetAsync()
    {
        await Aws.AutoScaling.RegisterScalableTargetAsync(new RegisterScalableTargetRequest
        {
            ServiceNamespace = "ecs",
            ResourceId = $"service/{Cluster}/{Service}",
            ScalableDimension = "ecs:service:DesiredCount",
            MinCapacity = 1,
            MaxCapacity = 10,
        }, CancellationToken.None).WaitAsync(CallTimeout);
    }

    /// <summary>Deletes the service by hand, as someone in the console would.</summary>
    public async Task DeleteServiceOutOfBandAsync()
    {
        await Aws.Ecs.DeleteServiceAsync(new DeleteServiceRequest { Cluster = Cluster, Service = Service, Force = true }, CancellationToken.None).WaitAsync(CallTimeout);
    }

    /// <summary>Sets the production listener's weights between the blue and green target groups by hand, as someone in the console would.</summary>
    public async Task MoveWeightsByHandAsync(int blue, int green)
    {
        var listener = (await Aws.Elb.DescribeListenersAsync([ProductionListener], CancellationToken.None).WaitAsync(CallTimeout)).Single();
        var actions = ListenerWeights.WithWeights(listener.DefaultActions, [new(Blue, blue), new(Green, green)]);
        await Aws.Elb.ModifyListenerAsync(ProductionListener, actions, CancellationToken.None).WaitAsync(CallTimeout);
    }

    /// <summary>The load balancer's DNS name, as DescribeLoadBalancers gives it.</summary>
    public async Task<string> LoadBalancerDnsNameAsync()
    {
        var described = await Aws.Elb.Raw.CallAsync("DescribeLoadBalancers", [new("LoadBalancerArns.member.1", LoadBalancerArn)], CancellationToken.None)
            .WaitAsync(CallTimeout);
        return described.Members("LoadBalancers").Single().Text("DNSName")!;
    }

    /// <summary>
    /// Publishes ALB-shaped counts for a target group, as the load balancer would. No TargetResponseTime: moto cannot
    /// compute percentile statistics (it fails GetMetricData with a 500 when a percentile has data), so latency
    /// percentiles are tested on a recorded GetMetricData answer instead.
    /// </summary>
    public async Task PutTargetGroupMetricsAsync(string targetGroupArn, DateTimeOffset at, double requests, double errors)
    {
        var tg = EcsPlatform.TargetGroupDimension(targetGroupArn);
        var lb = EcsPlatform.LoadBalancerDimension(LoadBalancerArn);
        var parameters = new List<KeyValuePair<string, string>> { new("Namespace", "AWS/ApplicationELB") };
        var data = new (string Name, double Value, string Unit)[] { ("RequestCount", requests, "Count"), ("HTTPCode_Target_5XX_Count", errors, "Count") };
        for (var i = 0; i < data.Length; i++)
        {
            var p = $"MetricData.member.{i + 1}";
            parameters.Add(new($"{p}.MetricName", data[i].Name));
            parameters.Add(new($"{p}.Value", data[i].Value.ToString(CultureInfo.InvariantCulture)));
            parameters.Add(new($"{p}.Unit", data[i].Unit));
            parameters.Add(new($"{p}.Timestamp", QueryXml.Iso(at)));
            parameters.Add(new($"{p}.Dimensions.member.1.Name", "TargetGroup"));
            parameters.Add(new($"{p}.Dimensions.member.1.Value", tg));
            parameters.Add(new($"{p}.Dimensions.member.2.Name", "LoadBalancer"));
            parameters.Add(new($"{p}.Dimensions.member.2.Value", lb));
        }

        await Aws.CloudWatch.Raw.CallAsync("PutMetricData", parameters, CancellationToken.None).WaitAsync(CallTimeout);
    }

    /// <summary>Publishes one point of a custom metric with one dimension (moto matches custom metrics on name and dimensions).</summary>
    public async Task PutMetricAsync(string metricName, string dimension, string value, double point, DateTimeOffset at)
    {
        await Aws.CloudWatch.Raw.CallAsync("PutMetricData",
        [
            new("Namespace", "Backstay/Test"), new("MetricData.member.1.MetricName", metricName),
            new("MetricData.member.1.Value", point.ToString(CultureInfo.InvariantCulture)), new("MetricData.member.1.Unit", "Count"),
            new("MetricData.member.1.Timestamp", QueryXml.Iso(at)),
            new("MetricData.member.1.Dimensions.member.1.Name", dimension), new("MetricData.member.1.Dimensions.member.1.Value", value),
        ], CancellationToken.None).WaitAsync(CallTimeout);
    }

    public void Dispose() => _factory.Dispose();

    private async Task SetUpAsync()
    {
        var none = CancellationToken.None;
        await Aws.Ecs.Raw.CallRawAsync("CreateCluster", Json(new { clusterName = Cluster }), none);
        var vpc = await Aws.Ec2.CallAsync("CreateVpc", [new("CidrBlock", "10.0.0.0/16")], none);
        VpcId = vpc.Child("vpc").Text("vpcId")!;
        var subnets = new List<string>();
        foreach (var (cidr, zone) in new[] { ("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b") })
        {
            var subnet = await Aws.Ec2.CallAsync("CreateSubnet", [new("VpcId", VpcId), new("CidrBlock", cidr), new("AvailabilityZone", zone)], none);
            subnets.Add(subnet.Child("subnet").Text("subnetId")!);
        }

        Subnets = subnets;
        var instance = await Aws.Ec2.CallAsync("RunInstances",
            [new("ImageId", "ami-12c6146b"), new("MinCount", "1"), new("MaxCount", "1"), new("InstanceType", "t3.large"), new("SubnetId", subnets[0])], none);
        var instanceId = instance.Child("instancesSet").Child("item").Text("instanceId")!;
        await Aws.Ecs.Raw.CallRawAsync("RegisterContainerInstance", Json(new
        {
            cluster = Cluster,
            instanceIdentityDocument = JsonSerializer.Serialize(new { instanceId, region = MotoServer.Region }),
        }), none);

        var lbName = $"{Name}-alb"[..Math.Min(32, Name.Length + 4)];
        var lb = await Aws.Elb.Raw.CallAsync("CreateLoadBalancer",
            [new("Name", lbName), new("Subnets.member.1", subnets[0]), new("Subnets.member.2", subnets[1]), new("Type", "application")], none);
        LoadBalancerArn = lb.Members("LoadBalancers").First().Text("LoadBalancerArn")!;
        Blue = await TargetGroupAsync("b");
        Green = await TargetGroupAsync("g");
        ProductionListener = await ListenerAsync(80);
        TestListener = await ListenerAsync(8080);
        await Aws.CloudWatch.Raw.CallAsync("PutMetricAlarm",
        [
            new("AlarmName", AlarmName), new("MetricName", "HTTPCode_Target_5XX_Count"), new("Namespace", "AWS/ApplicationELB"),
            new("Statistic", "Sum"), new("Period", "60"), new("EvaluationPeriods", "1"), new("Threshold", "10"),
            new("ComparisonOperator", "GreaterThanOrEqualToThreshold"),
        ], none);
        await SetAlarmStateAsync("OK");
    }

    private async Task<string> TargetGroupAsync(string color)
    {
        var tg = await Aws.Elb.Raw.CallAsync("CreateTargetGroup",
        [
            new("Name", $"{Name}-{color}"[..Math.Min(32, Name.Length + 2)]), new("Protocol", "HTTP"), new("Port", "8080"), new("VpcId", VpcId),
            new("TargetType", "ip"), new("HealthCheckPath", "/healthz"),
        ], CancellationToken.None);
        return tg.Members("TargetGroups").First().Text("TargetGroupArn")!;
    }

    private async Task<string> ListenerAsync(int port)
    {
        var listener = await Aws.Elb.Raw.CallAsync("CreateListener",
        [
            new("LoadBalancerArn", LoadBalancerArn), new("Protocol", "HTTP"), new("Port", port.ToString(CultureInfo.InvariantCulture)),
            new("DefaultActions.member.1.Type", "forward"), new("DefaultActions.member.1.TargetGroupArn", Blue),
        ], CancellationToken.None);
        return listener.Members("Listeners").First().Text("ListenerArn")!;
    }

    private static string Json(object value) => JsonSerializer.Serialize(value);
}
