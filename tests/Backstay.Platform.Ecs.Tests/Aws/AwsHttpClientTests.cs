using System.Net;
using System.Text;
using Backstay.Core.Ports;
using Backstay.Platform.Ecs.Aws;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstay.Platform.Ecs.Tests.Aws;

/// <summary>Signing, retries, timeouts and error messages of the HTTP layer, against a scripted local handler.</summary>
public sealed class AwsHttpClientTests : IDisposable
{
    private static readonly AwsEndpoint Endpoint = new(new Uri("http://127.0.0.1:1/"), "eu-west-1", Overridden: true);
    private readonly ScriptedHandler _handler = new();
    private readonly HttpClient _http;
    private readonly AwsRateLimits _limits = new(AwsRateLimits.Defaults);

    public AwsHttpClientTests()
    {
        _http = new HttpClient(_handler);
    }

    [Fact]
    public async Task SendJson_SignsAndTargetsTheOperation()
    {
        _handler.Answer(HttpStatusCode.OK, "{\"services\":[]}");
        var client = Client(new AwsCredentials("AKID", "SECRET", "TOKEN"));

        var body = await client.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        body.ShouldBe("{\"services\":[]}");
        var request = _handler.Requests.ShouldHaveSingleItem();
        request.Headers["X-Amz-Target"].ShouldBe("AmazonEC2ContainerServiceV20141113.DescribeServices");
        request.Headers["Content-Type"].ShouldStartWith("application/x-amz-json-1.1");
        request.Headers["X-Amz-Security-Token"].ShouldBe("TOKEN");
        request.Headers["Authorization"].ShouldStartWith("AWS4-HMAC-SHA256 Credential=AKID/");
        request.Headers["Authorization"].ShouldContain("/eu-west-1/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,");
    }

    [Fact]
    public async Task SendQuery_EncodesActionVersionAndParameters()
    {
        _handler.Answer(HttpStatusCode.OK, "<DescribeListenersResponse><DescribeListenersResult/></DescribeListenersResponse>");

        await Client().SendQueryAsync(AwsService.ElasticLoadBalancingV2, Endpoint, "DescribeListeners",
            [new("ListenerArns.member.1", "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/a b/1")], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        _handler.Requests.Single().Body.ShouldBe(
            "Action=DescribeListeners&Version=2015-12-01&ListenerArns.member.1=arn%3Aaws%3Aelasticloadbalancing%3Aeu-west-1%3A1%3Alistener%2Fapp%2Fa%20b%2F1");
    }

    [Fact]
    public async Task Send_ThrottledThenOk_RetriesAndReturns()
    {
        _handler.Answer(HttpStatusCode.BadRequest, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}");
        _handler.Answer(HttpStatusCode.OK, "{}");

        var body = await Client().SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        body.ShouldBe("{}");
        _handler.Requests.Count.ShouldBe(2);
        _handler.Requests[0].Headers["Authorization"].ShouldNotBeNull();
    }

    [Fact]
    public async Task Send_ThrottledTwiceThenOk_EachRetryWarningCountsTheSameWay()
    {
        _handler.Answer(HttpStatusCode.BadRequest, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}");
        _handler.Answer(HttpStatusCode.BadRequest, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}");
        _handler.Answer(HttpStatusCode.OK, "{}");
        var logger = new RecordingLogger();

        await Client(maxRetries: 3, logger: logger).SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        logger.Messages.Count.ShouldBe(2, string.Join("\n", logger.Messages));
        logger.Messages[0].ShouldStartWith("ECS DescribeServices attempt 1 of 4 failed (ThrottlingException: Rate exceeded); retry 1 of 3 in ");
        logger.Messages[1].ShouldStartWith("ECS DescribeServices attempt 2 of 4 failed (ThrottlingException: Rate exceeded); retry 2 of 3 in ");
        logger.Messages.ShouldAllBe(m => !m.Contains("still throttled"));
    }

    [Fact]
    public async Task Send_AlwaysThrottled_GivesUpAfterTheRetriesWithAMessage()
    {
        for (var i = 0; i < 5; i++)
        {
            _handler.Answer(HttpStatusCode.BadRequest, "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>");
        }

        var error = await Should.ThrowAsync<AwsServiceException>(Client(maxRetries: 2).SendQueryAsync(AwsService.CloudWatch, Endpoint, "GetMetricData", [], CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(10)));

        _handler.Requests.Count.ShouldBe(3);
        error.Attempts.ShouldBe(3);
        error.IsThrottling.ShouldBeTrue();
        error.Message.ShouldBe("CloudWatch GetMetricData was throttled by AWS and still throttled after 2 retries (Throttling: Rate exceeded). Wait and run the command again, or ask for a higher API rate quota for CloudWatch.");
    }

    [Fact]
    public async Task Send_ServerErrorThenOk_Retries()
    {
        _handler.Answer(HttpStatusCode.ServiceUnavailable, "");
        _handler.Answer(HttpStatusCode.OK, "{}");

        await Client().SendJsonAsync(AwsService.ApplicationAutoScaling, Endpoint, "DescribeScalableTargets", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        _handler.Requests.Count.ShouldBe(2);
    }

    [Fact]
    public async Task Send_AccessDenied_IsNotRetriedAndNamesTheMissingAction()
    {
        _handler.Answer(HttpStatusCode.BadRequest,
            "{\"__type\":\"AccessDeniedException\",\"message\":\"User: arn:aws:iam::1:user/ci is not authorized to perform: ecs:CreateTaskSet on resource: *\"}");

        var error = await Should.ThrowAsync<AwsServiceException>(Client().SendJsonAsync(AwsService.Ecs, Endpoint, "CreateTaskSet", "{}", CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(10)));

        _handler.Requests.Count.ShouldBe(1);
        error.ShouldBeAssignableTo<PlatformException>();
        error.IamAction.ShouldBe("ecs:CreateTaskSet");
        error.Message.ShouldContain("Allow the IAM action \"ecs:CreateTaskSet\"");
        error.Message.ShouldContain("docs/ecs.md");
    }

    [Fact]
    public async Task Send_ErrorTypeHeader_GivesTheCode()
    {
        _handler.Answer(HttpStatusCode.BadRequest, "{\"message\":\"Cluster not found.\"}", ("x-amzn-ErrorType", "ClusterNotFoundException:http://internal.amazon.com/coral/com.amazon.ecs/"));

        var error = await Should.ThrowAsync<AwsServiceException>(Client().SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(10)));

        error.Code.ShouldBe("ClusterNotFoundException");
        error.AwsMessage.ShouldBe("Cluster not found.");
    }

    [Fact]
    public async Task Send_NoAnswerInTime_TimesOutEachAttemptAndSaysSo()
    {
        _handler.Delay = TimeSpan.FromSeconds(5);

        var error = await Should.ThrowAsync<PlatformException>(Client(maxRetries: 1, attemptTimeout: TimeSpan.FromMilliseconds(100))
            .SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));

        error.Message.ShouldContain("did not answer within 0.1s, 2 attempt(s)");
    }

    [Fact]
    public async Task Send_ExpiredToken_SaysToRefreshCredentials()
    {
        _handler.Answer(HttpStatusCode.BadRequest, "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error></ErrorResponse>");

        var error = await Should.ThrowAsync<AwsServiceException>(Client().SendQueryAsync(AwsService.ElasticLoadBalancingV2, Endpoint, "DescribeListeners", [], CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(10)));

        error.Message.ShouldContain("aws sso login");
    }

    [Fact]
    public async Task Send_RequestLimitExceededThenOk_IsRetriedAsThrottling()
    {
        _handler.Answer(HttpStatusCode.BadRequest, "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>");
        _handler.Answer(HttpStatusCode.OK, "<DescribeListenersResponse><DescribeListenersResult/></DescribeListenersResponse>");

        await Client().SendQueryAsync(AwsService.ElasticLoadBalancingV2, Endpoint, "DescribeListeners", [], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        _handler.Requests.Count.ShouldBe(2);
        _limits.Throttled.ShouldBe(1, "a throttling answer is counted and empties its bucket");
    }

    [Fact]
    public async Task Send_ThrottledAnswer_EmptiesTheBucketSoTheRetryWaitsForIt()
    {
        using var limits = new AwsRateLimits([new AwsRateLimit("ecs", "service read", ["DescribeServices"], Burst: 5, PerSecond: 0.001)]);
        _handler.Answer(HttpStatusCode.BadRequest, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}");
        var client = Client(maxRetries: 1, limits: limits, rateLimitWait: TimeSpan.FromMilliseconds(300));

        var error = await Should.ThrowAsync<PlatformException>(client.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(10)));

        _handler.Requests.Count.ShouldBe(1, "the bucket had 4 tokens left; the throttling answer took them, so the retry waited for a refill");
        limits.Throttled.ShouldBe(1);
        error.Message.ShouldContain("client-side rate limit of ecs service read");
    }

    [Fact]
    public async Task Send_BucketEmpty_WaitsForTokensRatherThanFailing()
    {
        using var limits = new AwsRateLimits([new AwsRateLimit("ecs", "service read", ["DescribeServices"], Burst: 1, PerSecond: 5)]);
        var client = Client(limits: limits);

        var bodies = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None)))
            .WaitAsync(TimeSpan.FromSeconds(30));

        bodies.ShouldAllBe(b => b == "{}");
        _handler.Requests.Count.ShouldBe(4);
        limits.Waits.ShouldBeGreaterThanOrEqualTo(1, "a burst of one token: the calls after the first waited for the bucket to refill");
        limits.Throttled.ShouldBe(0);
    }

    [Fact]
    public async Task Send_WaitingForAToken_EndsWhenTheCallerCancels_AndSendsNothing()
    {
        using var limits = new AwsRateLimits([new AwsRateLimit("ecs", "service read", ["DescribeServices"], Burst: 1, PerSecond: 0.001)]);
        var client = Client(limits: limits);
        await client.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Should.ThrowAsync<OperationCanceledException>(client.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", cancel.Token)
            .WaitAsync(TimeSpan.FromSeconds(10)));

        _handler.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Send_WaitingForATokenLongerThanTheLimit_FailsSayingWhichLimit()
    {
        using var limits = new AwsRateLimits([new AwsRateLimit("elasticloadbalancing", "describe", ["DescribeTargetHealth"], Burst: 1, PerSecond: 0.001)]);
        var client = Client(limits: limits, rateLimitWait: TimeSpan.FromMilliseconds(200));
        await client.SendQueryAsync(AwsService.ElasticLoadBalancingV2, Endpoint, "DescribeTargetHealth", [], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        var error = await Should.ThrowAsync<PlatformException>(client.SendQueryAsync(AwsService.ElasticLoadBalancingV2, Endpoint, "DescribeTargetHealth", [], CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(10)));

        error.Message.ShouldStartWith("Elastic Load Balancing DescribeTargetHealth waited 0.2s for the client-side rate limit of elasticloadbalancing describe (0 per second, bursts of 1) in eu-west-1");
        _handler.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task RateLimits_AreSharedByClientsOfOneAccountRegionAndGroup_AndSeparateOtherwise()
    {
        using var limits = new AwsRateLimits([new AwsRateLimit("ecs", "service read", ["DescribeServices"], Burst: 1, PerSecond: 0.001), new AwsRateLimit("ecs", "other", [], Burst: 1, PerSecond: 0.001)]);
        var first = Client(limits: limits, rateLimitWait: TimeSpan.FromMilliseconds(200));
        var second = Client(limits: limits, rateLimitWait: TimeSpan.FromMilliseconds(200));
        var otherAccount = Client(new AwsCredentials("AKID2", "SECRET"), limits: limits, rateLimitWait: TimeSpan.FromMilliseconds(200));
        var otherRegion = new AwsEndpoint(new Uri("http://127.0.0.1:1/"), "us-west-2", Overridden: true);

        await first.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await Should.ThrowAsync<PlatformException>(second.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
        await otherAccount.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await second.SendJsonAsync(AwsService.Ecs, otherRegion, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await second.SendJsonAsync(AwsService.Ecs, Endpoint, "CreateTaskSet", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        _handler.Requests.Count.ShouldBe(4, "only the second DescribeServices of one account, region and group waited (and gave up)");
    }

    [Fact]
    public async Task Send_InAWatchingRead_BucketEmpty_IsPutOffAndSendsNothing()
    {
        using var limits = new AwsRateLimits([new AwsRateLimit("ecs", "service read", ["DescribeServices"], Burst: 1, PerSecond: 0.001)]);
        var client = Client(limits: limits);
        await client.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        await Should.ThrowAsync<AwsCallDeferredException>(AwsCallDeferral.RunAsync(
            ct => client.SendJsonAsync(AwsService.Ecs, Endpoint, "DescribeServices", "{}", ct), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));

        _handler.Requests.Count.ShouldBe(1);
        limits.PutOff.ShouldBe(1);
        limits.Waits.ShouldBe(0, "nothing queued for a token");
    }

    [Fact]
    public async Task Send_InAWatchingRead_OnceItsFirstCallHadAToken_TheOthersWaitForTheirs()
    {
        using var limits = new AwsRateLimits([new AwsRateLimit("elasticloadbalancing", "describe", ["DescribeTargetHealth"], Burst: 1, PerSecond: 5)]);
        var client = Client(limits: limits);

        await AwsCallDeferral.RunAsync(async ct =>
        {
            await client.SendQueryAsync(AwsService.ElasticLoadBalancingV2, Endpoint, "DescribeTargetHealth", [new("TargetGroupArn", "blue")], ct);
            return await client.SendQueryAsync(AwsService.ElasticLoadBalancingV2, Endpoint, "DescribeTargetHealth", [new("TargetGroupArn", "green")], ct);
        }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        _handler.Requests.Count.ShouldBe(2, "the second target group's read waited for the refill instead of putting off the whole read");
        limits.PutOff.ShouldBe(0);
    }

    [Theory]
    [InlineData("ecs", "DescribeServices", "service read")]
    [InlineData("ecs", "UpdateTaskSet", "service write")]
    [InlineData("ecs", "RegisterTaskDefinition", "task definition write")]
    [InlineData("elasticloadbalancing", "DescribeTargetHealth", "describe")]
    [InlineData("elasticloadbalancing", "ModifyListener", "mutating")]
    [InlineData("monitoring", "DescribeAlarms", "DescribeAlarms")]
    [InlineData("monitoring", "GetMetricData", "GetMetricData")]
    [InlineData("sts", "GetCallerIdentity", "other")]
    public void RateLimits_Defaults_PutEachOperationInItsGroup(string service, string operation, string bucket)
    {
        AwsRateLimits.Shared.LimitOf(service, operation).Bucket.ShouldBe(bucket);
    }

    public void Dispose()
    {
        _http.Dispose();
        _handler.Dispose();
        _limits.Dispose();
    }

    private AwsHttpClient Client(AwsCredentials? credentials = null, int maxRetries = 3, TimeSpan? attemptTimeout = null, ILogger? logger = null,
        AwsRateLimits? limits = null, TimeSpan? rateLimitWait = null) =>
        new(_http, new StaticCredentialSource(credentials ?? new AwsCredentials("AKID", "SECRET")), TimeProvider.System, new AwsClientOptions
        {
            MaxRetries = maxRetries,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            RetryMaxDelay = TimeSpan.FromMilliseconds(5),
            AttemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(5),
            RateLimits = limits ?? _limits,
            RateLimitWait = rateLimitWait ?? TimeSpan.FromSeconds(60),
        }, logger ?? NullLogger.Instance);

    /// <summary>Keeps the text of every warning logged.</summary>
    private sealed class RecordingLogger : ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                Messages.Add(formatter(state, exception));
            }
        }
    }

    /// <summary>Answers requests from a script, in order, and records what it was sent.</summary>
    private sealed class ScriptedHandler : HttpMessageHandler
    {
        private readonly Queue<(HttpStatusCode Status, string Body, (string Name, string Value)[] Headers)> _answers = new();

        public List<(Dictionary<string, string> Headers, string Body)> Requests { get; } = [];

        public TimeSpan Delay { get; set; }

        public void Answer(HttpStatusCode status, string body, params (string Name, string Value)[] headers) => _answers.Enqueue((status, body, headers));

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var headers = request.Headers.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
            foreach (var header in request.Content!.Headers)
            {
                headers[header.Key] = string.Join(",", header.Value);
            }

            Requests.Add((headers, await request.Content.ReadAsStringAsync(cancellationToken)));
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, cancellationToken);
            }

            var (status, body, extra) = _answers.Count > 0 ? _answers.Dequeue() : (HttpStatusCode.OK, "{}", []);
            var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8) };
            foreach (var (name, value) in extra)
            {
                response.Headers.TryAddWithoutValidation(name, value);
            }

            return response;
        }
    }
}
