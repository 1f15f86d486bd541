namespace Backstay.Platform.Ecs.Aws.Ecr;

/// <summary>The ECR operations Backstay calls (JSON 1.1, target prefix AmazonEC2ContainerRegistry_V20150921).</summary>
internal sealed class EcrClient(JsonServiceClient json)
{
    public JsonServiceClient Raw => json;

    public Task<DescribeImagesResponse> DescribeImagesAsync(DescribeImagesRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DescribeImagesRequest, DescribeImagesResponse>("DescribeImages", request, cancellationToken);
}
