namespace Backstay.Platform.Ecs.Aws;

/// <summary>Wire protocol of an AWS service.</summary>
internal enum AwsProtocol
{
    Json11,
    Query,
}

/// <summary>What it takes to reach one AWS service: its ids, how it signs and which protocol it speaks.</summary>
/// <param name="EnvironmentId">The suffix of its AWS_ENDPOINT_URL_ variable, as the SDKs and CLI name it.</param>
/// <param name="DisplayName">How messages name it.</param>
/// <param name="SigningName">The service name in the SigV4 scope.</param>
/// <param name="EndpointPrefix">The host prefix of its public endpoint.</param>
/// <param name="Target">JSON 1.1: the X-Amz-Target prefix; Query: the API version.</param>
/// <param name="IamPrefix">The prefix of its actions in IAM policies.</param>
internal sealed record AwsService(string EnvironmentId, string DisplayName, string SigningName, string EndpointPrefix,
    AwsProtocol Protocol, string Target, string IamPrefix)
{
    public static readonly AwsService Ecs = new("ECS", "ECS", "ecs", "ecs", AwsProtocol.Json11, "AmazonEC2ContainerServiceV20141113", "ecs");

    public static readonly AwsService ElasticLoadBalancingV2 = new("ELASTIC_LOAD_BALANCING_V2", "Elastic Load Balancing", "elasticloadbalancing",
        "elasticloadbalancing", AwsProtocol.Query, "2015-12-01", "elasticloadbalancing");

    public static readonly AwsService CloudWatch = new("CLOUDWATCH", "CloudWatch", "monitoring", "monitoring", AwsProtocol.Query, "2010-08-01", "cloudwatch");

    public static readonly AwsService ApplicationAutoScaling = new("APPLICATION_AUTO_SCALING", "Application Auto Scaling", "application-autoscaling",
        "application-autoscaling", AwsProtocol.Json11, "AnyScaleFrontendService", "application-autoscaling");

    public static readonly AwsService Ecr = new("ECR", "ECR", "ecr", "api.ecr", AwsProtocol.Json11, "AmazonEC2ContainerRegistry_V20150921", "ecr");

    /// <summary>Only the tests create networks; Backstay itself never calls EC2.</summary>
    public static readonly AwsService Ec2 = new("EC2", "EC2", "ec2", "ec2", AwsProtocol.Query, "2016-11-15", "ec2");
}
