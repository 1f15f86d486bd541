namespace Backstay.Platform.Ecs.Aws.ApplicationAutoScaling;

/// <summary>The Application Auto Scaling operations Backstay calls (JSON 1.1, target prefix AnyScaleFrontendService).</summary>
internal sealed class AutoScalingClient(JsonServiceClient json)
{
    public JsonServiceClient Raw => json;

    public Task<DescribeScalableTargetsResponse> DescribeScalableTargetsAsync(DescribeScalableTargetsRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DescribeScalableTargetsRequest, DescribeScalableTargetsResponse>("DescribeScalableTargets", request, cancellationToken);

    public Task<RegisterScalableTargetResponse> RegisterScalableTargetAsync(RegisterScalableTargetRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<RegisterScalableTargetRequest, RegisterScalableTargetResponse>("RegisterScalableTarget", request, cancellationToken);
}
