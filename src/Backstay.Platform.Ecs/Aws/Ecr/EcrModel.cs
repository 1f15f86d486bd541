namespace Backstay.Platform.Ecs.Aws.Ecr;

// Shapes as in Amazon.ECR.Model, limited to what Backstay reads.

internal sealed record ImageIdentifier
{
    public string? ImageTag { get; init; }
    public string? ImageDigest { get; init; }
}

internal sealed record DescribeImagesRequest
{
    public string? RegistryId { get; init; }
    public required string RepositoryName { get; init; }
    public IReadOnlyList<ImageIdentifier>? ImageIds { get; init; }
}

internal sealed record ImageDetail
{
    public string? RegistryId { get; init; }
    public string? RepositoryName { get; init; }
    public string? ImageDigest { get; init; }
    public IReadOnlyList<string>? ImageTags { get; init; }
    public DateTimeOffset? ImagePushedAt { get; init; }
}

internal sealed record DescribeImagesResponse
{
    public IReadOnlyList<ImageDetail> ImageDetails { get; set; } = [];
    public string? NextToken { get; init; }
}
