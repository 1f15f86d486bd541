using System.Net;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>An AWS API call failed; <see cref="Exception.Message"/> says what failed and what to do.</summary>
public sealed class AwsServiceException : PlatformException
{
    private static readonly HashSet<string> ThrottlingCodes = new(StringComparer.Ordinal)
    {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "RequestLimitExceeded", "BandwidthLimitExceeded", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    };

    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "RequestTimeout", "RequestTimeoutException", "InternalFailure", "InternalError", "InternalServerError",
        "ServiceUnavailable", "ServerException", "ServiceUnavailableException", "TransactionInProgressException",
    };

    private static readonly HashSet<string> AccessDeniedCodes = new(StringComparer.Ordinal)
    {
        "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "AuthorizationError",
    };

    private static readonly HashSet<string> CredentialCodes = new(StringComparer.Ordinal)
    {
        "UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch",
        "ExpiredToken", "ExpiredTokenException", "IncompleteSignature", "MissingAuthenticationToken", "AuthFailure",
    };

    internal AwsServiceException(AwsService service, string operation, HttpStatusCode statusCode, string code, string? awsMessage,
        string? requestId, int attempts = 1)
        : base(Compose(service, operation, statusCode, code, awsMessage, attempts))
    {
        Service = service.DisplayName;
        IamAction = $"{service.IamPrefix}:{operation}";
        Operation = operation;
        StatusCode = statusCode;
        Code = code;
        AwsMessage = awsMessage;
        RequestId = requestId;
        Attempts = attempts;
    }

    public string Service { get; }

    public string Operation { get; }

    /// <summary>The IAM action of the call, e.g. "ecs:CreateTaskSet".</summary>
    public string IamAction { get; }

    public HttpStatusCode StatusCode { get; }

    /// <summary>The AWS error code, e.g. "ClusterNotFoundException" or "Throttling".</summary>
    public string Code { get; }

    public string? AwsMessage { get; }

    public string? RequestId { get; }

    /// <summary>How many times the call was sent before giving up.</summary>
    public int Attempts { get; }

    public bool IsThrottling => ThrottlingCodes.Contains(Code) || StatusCode == HttpStatusCode.TooManyRequests;

    /// <summary>Worth sending again: throttling, a 5xx or a transient server code.</summary>
    public bool IsRetryable => IsThrottling || TransientCodes.Contains(Code) || (int)StatusCode >= 500;

    public bool IsAccessDenied => AccessDeniedCodes.Contains(Code);

    internal AwsServiceException WithAttempts(int attempts, AwsService service) =>
        new(service, Operation, StatusCode, Code, AwsMessage, RequestId, attempts);

    private static string Compose(AwsService service, string operation, HttpStatusCode status, string code, string? message, int attempts)
    {
        var action = $"{service.IamPrefix}:{operation}";
        var said = string.IsNullOrWhiteSpace(message) ? "" : $": {message.Trim()}";
        if (AccessDeniedCodes.Contains(code))
        {
            return $"{service.DisplayName} {operation} was denied ({code}{said}). Allow the IAM action \"{action}\" for the role or user Backstay runs as; docs/ecs.md has the whole policy.";
        }

        if (CredentialCodes.Contains(code))
        {
            return $"{service.DisplayName} {operation} was refused because of the credentials ({code}{said}). Check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, refresh an expired session (`aws sso login`), and that the clock of this machine is right.";
        }

        if (ThrottlingCodes.Contains(code) || status == HttpStatusCode.TooManyRequests)
        {
            return $"{service.DisplayName} {operation} was throttled by AWS and still throttled after {attempts - 1} retries ({code}{said}). Wait and run the command again, or ask for a higher API rate quota for {service.DisplayName}.";
        }

        if ((int)status >= 500 || TransientCodes.Contains(code))
        {
            return $"{service.DisplayName} {operation} failed on the AWS side ({(int)status} {code}{said}) after {attempts} attempt(s). Try again shortly; check the AWS Health Dashboard if it persists.";
        }

        return $"{service.DisplayName} {operation} failed ({code}{said}).";
    }
}
