using Backstay.Core.Ports;
using Backstay.Platform.Ecs.Aws;

namespace Backstay.Platform.Ecs.Tests.Aws;

public sealed class AwsEnvironmentTests
{
    [Fact]
    public void ResolveEndpoint_ServiceVariable_WinsOverGlobalOne()
    {
        var environment = new AwsEnvironment(new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL"] = "http://localhost:5000",
            ["AWS_ENDPOINT_URL_ECS"] = "https://vpce-123.ecs.eu-west-1.vpce.amazonaws.com",
        });

        environment.ResolveEndpoint(AwsService.Ecs, "eu-west-1").ShouldBe(new Uri("https://vpce-123.ecs.eu-west-1.vpce.amazonaws.com"));
        environment.ResolveEndpoint(AwsService.ElasticLoadBalancingV2, "eu-west-1").ShouldBe(new Uri("http://localhost:5000"));
    }

    [Theory]
    [InlineData("ECS", "https://ecs.eu-west-1.amazonaws.com/")]
    [InlineData("ELASTIC_LOAD_BALANCING_V2", "https://elasticloadbalancing.eu-west-1.amazonaws.com/")]
    [InlineData("CLOUDWATCH", "https://monitoring.eu-west-1.amazonaws.com/")]
    [InlineData("APPLICATION_AUTO_SCALING", "https://application-autoscaling.eu-west-1.amazonaws.com/")]
    [InlineData("ECR", "https://api.ecr.eu-west-1.amazonaws.com/")]
    public void ResolveEndpoint_NothingConfigured_IsThePublicEndpoint(string id, string expected)
    {
        var service = new[] { AwsService.Ecs, AwsService.ElasticLoadBalancingV2, AwsService.CloudWatch, AwsService.ApplicationAutoScaling, AwsService.Ecr }
            .Single(s => s.EnvironmentId == id);

        new AwsEnvironment(new Dictionary<string, string>()).ResolveEndpoint(service, "eu-west-1").ShouldBe(new Uri(expected));
    }

    [Fact]
    public void ResolveEndpoint_EachServiceVariable_IsHonoured()
    {
        foreach (var service in new[] { AwsService.Ecs, AwsService.ElasticLoadBalancingV2, AwsService.CloudWatch, AwsService.ApplicationAutoScaling, AwsService.Ecr })
        {
            var environment = new AwsEnvironment(new Dictionary<string, string> { [$"AWS_ENDPOINT_URL_{service.EnvironmentId}"] = "http://127.0.0.1:4566" });
            environment.ResolveEndpoint(service, "us-east-1").ShouldBe(new Uri("http://127.0.0.1:4566"));
        }
    }

    [Fact]
    public void ResolveEndpoint_IgnoreConfiguredEndpoints_UsesThePublicOne()
    {
        var environment = new AwsEnvironment(new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL"] = "http://localhost:5000",
            ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true",
        });

        environment.ResolveEndpoint(AwsService.CloudWatch, "cn-north-1").ShouldBe(new Uri("https://monitoring.cn-north-1.amazonaws.com.cn/"));
    }

    [Fact]
    public void ResolveEndpoint_NotAUrl_SaysWhichVariableToFix()
    {
        var environment = new AwsEnvironment(new Dictionary<string, string> { ["AWS_ENDPOINT_URL_ECR"] = "localhost:5000" });

        Should.Throw<PlatformException>(() => environment.ResolveEndpoint(AwsService.Ecr, "us-east-1")).Message.ShouldContain("AWS_ENDPOINT_URL_ECR");
    }

    [Fact]
    public void ResolveRegion_SpecThenFlagThenEnvironment()
    {
        var environment = new AwsEnvironment(new Dictionary<string, string> { ["AWS_REGION"] = "eu-west-1", ["AWS_DEFAULT_REGION"] = "eu-central-1" });

        environment.ResolveRegion("us-west-2", "ap-south-1", useSharedConfig: false).ShouldBe("us-west-2");
        environment.ResolveRegion(null, "ap-south-1", useSharedConfig: false).ShouldBe("ap-south-1");
        environment.ResolveRegion(null, null, useSharedConfig: false).ShouldBe("eu-west-1");
        new AwsEnvironment(new Dictionary<string, string> { ["AWS_DEFAULT_REGION"] = "eu-central-1" }).ResolveRegion(null, null, useSharedConfig: false).ShouldBe("eu-central-1");
    }

    [Fact]
    public void ResolveRegion_None_SaysHowToSetOne()
    {
        var error = Should.Throw<PlatformException>(() => new AwsEnvironment(new Dictionary<string, string>()).ResolveRegion(null, null, useSharedConfig: false));

        error.Message.ShouldContain("AWS_REGION");
        error.Message.ShouldContain("platform.ecs");
    }
}
