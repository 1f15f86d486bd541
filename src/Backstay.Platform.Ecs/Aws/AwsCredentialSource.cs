using Amazon.Runtime;
using Amazon.Runtime.Credentials;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>Supplies the credentials each request is signed with.</summary>
public interface IAwsCredentialSource
{
    ValueTask<AwsCredentials> GetAsync(CancellationToken cancellationToken);
}

/// <summary>Fixed credentials, e.g. for tests against a local endpoint.</summary>
public sealed class StaticCredentialSource(AwsCredentials credentials) : IAwsCredentialSource
{
    public ValueTask<AwsCredentials> GetAsync(CancellationToken cancellationToken) => ValueTask.FromResult(credentials);
}

/// <summary>
/// The AWS SDK's default chain (environment, profiles including SSO, web identity, container and instance roles),
/// resolved once and refreshed by the SDK's own credential objects when they expire.
/// </summary>
public sealed class DefaultChainCredentialSource : IAwsCredentialSource
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AWSCredentials? _credentials;

    public async ValueTask<AwsCredentials> GetAsync(CancellationToken cancellationToken)
    {
        try
        {
            var credentials = _credentials;
            if (credentials is null)
            {
                await _gate.WaitAsync(cancellationToken);
                try
                {
                    _credentials ??= await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync();
                    credentials = _credentials;
                }
                finally
                {
                    _gate.Release();
                }
            }

            var immutable = await credentials.GetCredentialsAsync();
            return new AwsCredentials(immutable.AccessKey, immutable.SecretKey, immutable.UseToken ? immutable.Token : null);
        }
        catch (AmazonClientException ex)
        {
            throw new PlatformException(
                "No usable AWS credentials: set AWS_PROFILE (and run `aws sso login` for an SSO profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a task or instance role is available. " +
                $"The AWS SDK said: {ex.Message}", ex);
        }
    }
}
