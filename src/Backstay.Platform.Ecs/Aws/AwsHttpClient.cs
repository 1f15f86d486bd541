using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>
/// Sends signed requests to AWS: takes a token from the process's rate limit of the call's account, region and API
/// group before each attempt (<see cref="AwsRateLimits"/>), signs each attempt with SigV4, retries throttling, 5xx
/// answers, timeouts and network errors with jittered exponential backoff (Polly), bounds each attempt with a timeout,
/// and turns error answers into <see cref="AwsServiceException"/>s whose messages say what to do.
/// </summary>
internal sealed partial class AwsHttpClient
{
    private readonly HttpClient _http;
    private readonly IAwsCredentialSource _credentials;
    private readonly TimeProvider _time;
    private readonly AwsClientOptions _options;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _pipeline;
    private readonly ResiliencePipeline _attempt;
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);

    public AwsHttpClient(HttpClient http, IAwsCredentialSource credentials, TimeProvider time, AwsClientOptions options, ILogger logger)
    {
        _http = http;
        _credentials = credentials;
        _time = time;
        _options = options;
        _logger = logger;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder()
                    .Handle<AwsServiceException>(e => e.IsRetryable)
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>(),
                MaxRetryAttempts = Math.Max(0, options.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
                OnRetry = args =>
                {
                    // AttemptNumber counts from 0 and names the attempt that just failed; the retry about to happen has the same number from 1.
                    var attempt = args.AttemptNumber + 1;
                    LogRetry(_logger, args.Context.Properties.GetValue(CallKey, "AWS call"), attempt, MaxAttempts, ReasonOf(args.Outcome.Exception),
                        attempt, MaxAttempts - 1, args.RetryDelay.TotalMilliseconds);
                    return default;
                },
            })
            .Build();

        // The attempt's own time limit starts once it has its token: waiting for the rate limit is bounded on its own.
        _attempt = new ResiliencePipelineBuilder { TimeProvider = time }.AddTimeout(options.AttemptTimeout).Build();
    }

    private static readonly ResiliencePropertyKey<string> CallKey = new("backstay.aws-call");

    private int MaxAttempts => Math.Max(0, _options.MaxRetries) + 1;

    /// <summary>Calls sent so far per "service:Operation" (every attempt counts), for measuring what a deployment costs.</summary>
    public IReadOnlyDictionary<string, int> Calls => _calls;

    public int TotalCalls => _calls.Values.Sum();

    public void ResetCounts() => _calls.Clear();

    /// <summary>A JSON 1.1 call: POST of the JSON body with X-Amz-Target set to the service's prefix and the operation.</summary>
    public Task<string> SendJsonAsync(AwsService service, AwsEndpoint endpoint, string operation, string json, CancellationToken cancellationToken) =>
        SendAsync(service, endpoint, operation, "application/x-amz-json-1.1", $"{service.Target}.{operation}",
            Encoding.UTF8.GetBytes(json), cancellationToken);

    /// <summary>A Query call: form-encoded Action, Version and the parameters; answers are XML.</summary>
    public Task<string> SendQueryAsync(AwsService service, AwsEndpoint endpoint, string operation, IEnumerable<KeyValuePair<string, string>> parameters,
        CancellationToken cancellationToken)
    {
        var body = new StringBuilder()
            .Append("Action=").Append(SigV4Signer.UriEncode(operation))
            .Append("&Version=").Append(SigV4Signer.UriEncode(service.Target));
        foreach (var (name, value) in parameters)
        {
            body.Append('&').Append(SigV4Signer.UriEncode(name)).Append('=').Append(SigV4Signer.UriEncode(value));
        }

        return SendAsync(service, endpoint, operation, "application/x-www-form-urlencoded; charset=utf-8", null,
            Encoding.UTF8.GetBytes(body.ToString()), cancellationToken);
    }

    private async Task<string> SendAsync(AwsService service, AwsEndpoint endpoint, string operation, string contentType, string? target,
        byte[] body, CancellationToken cancellationToken)
    {
        var attempts = 0;
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(CallKey, $"{service.DisplayName} {operation}");
        try
        {
            return await _pipeline.ExecuteAsync(async resilience =>
            {
                attempts++;
                var credentials = await _credentials.GetAsync(resilience.CancellationToken);
                if (_options.RateLimits is { } limits)
                {
                    if (AwsCallDeferral.MayPutOff())
                    {
                        if (!limits.TryAcquireNow(credentials.AccessKeyId, endpoint.Region, service, operation))
                        {
                            throw new AwsCallDeferredException($"{service.DisplayName} {operation}");
                        }
                    }
                    else
                    {
                        await limits.AcquireAsync(credentials.AccessKeyId, endpoint.Region, service, operation, _options.RateLimitWait, resilience.CancellationToken);
                    }
                }

                AwsCallDeferral.Started();

                _calls.AddOrUpdate($"{service.SigningName}:{operation}", 1, (_, n) => n + 1);
                try
                {
                    return await _attempt.ExecuteAsync(
                        async token => await SendOnceAsync(service, endpoint, operation, contentType, target, body, credentials, token), resilience.CancellationToken);
                }
                catch (AwsServiceException ex) when (ex.IsThrottling && _options.RateLimits is { } throttled)
                {
                    throttled.OnThrottled(credentials.AccessKeyId, endpoint.Region, service, operation);
                    throw;
                }
            }, context);
        }
        catch (AwsServiceException ex) when (ex.IsRetryable)
        {
            throw ex.WithAttempts(attempts, service);
        }
        catch (TimeoutRejectedException ex)
        {
            throw new PlatformException(
                $"{service.DisplayName} {operation} at {endpoint.Uri} did not answer within {_options.AttemptTimeout.TotalSeconds:0.#}s, {attempts} attempt(s). Check the network path to AWS (proxy, VPC endpoint, AWS_ENDPOINT_URL).", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new PlatformException(
                $"Could not reach {service.DisplayName} at {endpoint.Uri} for {operation} after {attempts} attempt(s): {ex.Message}. Check the network, proxy settings and AWS_ENDPOINT_URL{(endpoint.Overridden ? "" : " (unset: the public endpoint is used)")}.", ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>What one failed attempt got back; the exception's own message is the verdict after the last attempt, so it would miscount here.</summary>
    private string ReasonOf(Exception? exception) => exception switch
    {
        AwsServiceException aws => string.IsNullOrWhiteSpace(aws.AwsMessage) ? $"{(int)aws.StatusCode} {aws.Code}" : $"{aws.Code}: {aws.AwsMessage.Trim()}",
        TimeoutRejectedException => $"no answer within {_options.AttemptTimeout.TotalSeconds:0.#}s",
        null => "no answer",
        _ => exception.Message,
    };

    private async Task<string> SendOnceAsync(AwsService service, AwsEndpoint endpoint, string operation, string contentType, string? target,
        byte[] body, AwsCredentials credentials, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Uri);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        var headers = new List<KeyValuePair<string, string>> { new("content-type", contentType) };
        if (target is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Amz-Target", target);
            headers.Add(new("x-amz-target", target));
        }

        var signed = SigV4Signer.Sign("POST", endpoint.Uri, headers, body, credentials, endpoint.Region, service.SigningName, _time.GetUtcNow());
        request.Headers.TryAddWithoutValidation("X-Amz-Date", signed.AmzDate);
        if (credentials.SessionToken is { Length: > 0 } token)
        {
            request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", token);
        }

        request.Headers.TryAddWithoutValidation("Authorization", signed.Authorization);
        request.Headers.UserAgent.ParseAdd("backstay/1.0");
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return text;
        }

        var requestId = response.Headers.TryGetValues("x-amzn-RequestId", out var ids) ? ids.FirstOrDefault()
            : response.Headers.TryGetValues("x-amz-request-id", out var ids2) ? ids2.FirstOrDefault() : null;
        var typeHeader = response.Headers.TryGetValues("x-amzn-ErrorType", out var types) ? types.FirstOrDefault() : null;
        var (code, message) = service.Protocol == AwsProtocol.Json11 ? ParseJsonError(text, typeHeader) : ParseXmlError(text);
        throw new AwsServiceException(service, operation, response.StatusCode, code ?? $"Http{(int)response.StatusCode}", message, requestId);
    }

    internal static (string? Code, string? Message) ParseJsonError(string body, string? typeHeader)
    {
        string? code = null;
        string? message = null;
        try
        {
            using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(body) ? "{}" : body);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.String)
                {
                    continue;
                }

                if (property.NameEquals("__type") || property.NameEquals("code") || property.NameEquals("Code"))
                {
                    code ??= property.Value.GetString();
                }
                else if (property.NameEquals("message") || property.NameEquals("Message"))
                {
                    message = property.Value.GetString();
                }
            }
        }
        catch (JsonException)
        {
            message = body.Length > 300 ? body[..300] : body;
        }

        code = typeHeader ?? code;
        if (code is not null)
        {
            // "aws.protocoljson#ClusterNotFoundException" or "ClusterNotFoundException:http://internal.amazon.com/..."
            var hash = code.LastIndexOf('#');
            if (hash >= 0)
            {
                code = code[(hash + 1)..];
            }

            var colon = code.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                code = code[..colon];
            }
        }

        return (code, message);
    }

    internal static (string? Code, string? Message) ParseXmlError(string body)
    {
        try
        {
            var doc = XDocument.Parse(body);
            var error = doc.Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
            return (error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value,
                error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value);
        }
        catch (System.Xml.XmlException)
        {
            return (null, body.Length > 300 ? body[..300] : body);
        }
    }

    [LoggerMessage(100, LogLevel.Warning, "{Call} attempt {Attempt} of {Attempts} failed ({Reason}); retry {Retry} of {Retries} in {DelayMs:0} ms")]
    private static partial void LogRetry(ILogger logger, string call, int attempt, int attempts, string reason, int retry, int retries, double delayMs);
}

/// <summary>The address and signing region of one service.</summary>
internal sealed record AwsEndpoint(Uri Uri, string Region, bool Overridden);
