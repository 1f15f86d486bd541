using System.Globalization;
using System.Net;
using System.Text;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Platform.Ecs.Aws;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// analysis.metrics[].cloudWatch read through the ECS platform: against moto for what it implements (MetricStat queries,
/// the request as sent, no data, a failed call), and against AWS's documented answers where moto differs from AWS.
/// </summary>
/// <remarks>
/// moto 5.x differs from CloudWatch in ways these tests work around:
/// it evaluates an expression only when the whole expression is another query's id (<c>errors</c>), and answers any
/// other (<c>errors / requests</c>, or a malformed one such as <c>errors +</c>) with an empty Complete result, where AWS
/// computes it or refuses it with a ValidationError; it computes only Sum, Average, Minimum, Maximum and SampleCount and
/// fails with a bare 500 page on any other statistic that has data (AWS computes p99 and refuses an unknown one with a
/// 400 ValidationError); it never answers a status other than Complete; with dimensions given it matches a metric by
/// name and dimensions only, not by namespace; and it stamps each point with the start of its period counted from
/// StartTime (12:01:54), where AWS aligns periods to the clock (12:01:00).
/// </remarks>
[Collection(MotoCollection.Name)]
public sealed class CloudWatchMetricProviderTests(MotoServer moto)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The spec the tests read. Each test reads a revision of its own, so points of one never fall in the periods of another.</summary>
    public const string Spec = """
        service: checkout
        platform:
          ecs:
            cluster: prod
            region: us-east-1
            loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue, arn:green] }
        task: { image: registry.example.com/checkout:1.2 }
        analysis:
          metrics:
            - name: errors
              max: 10
              cloudWatch:
                queries:
                  - { id: errors, namespace: Backstay/Test, metricName: Errors, dimensions: { Service: "{{service}}", Revision: "{{revision}}" }, stat: Sum, period: 60 }
            - name: error-rate
              max: 0.05
              cloudWatch:
                queries:
                  - { id: errors, namespace: Backstay/Test, metricName: Errors, dimensions: { Service: "{{service}}", Revision: "{{revision}}" }, stat: Sum, returnData: false }
                  - { id: requests, namespace: Backstay/Test, metricName: Requests, dimensions: { Service: "{{service}}", Revision: "{{revision}}" }, stat: Sum, returnData: false }
                  - { id: rate, expression: "errors / requests" }
            - name: errors-by-id
              max: 10
              cloudWatch:
                queries:
                  - { id: errors, namespace: Backstay/Test, metricName: Errors, dimensions: { Service: "{{service}}", Revision: "{{revision}}" }, stat: Sum, returnData: false }
                  - { id: total, expression: errors }
            - name: errors-p99
              max: 10
              cloudWatch:
                queries:
                  - { id: p99, namespace: Backstay/Test, metricName: Errors, dimensions: { Service: "{{service}}", Revision: "{{revision}}" }, stat: p99 }
        """;

    private readonly ServiceSpec _spec = SpecLoader.Parse(Spec, "backstay.yaml");
    private readonly DateTimeOffset _end = DateTimeOffset.UtcNow;

    [Fact]
    public async Task MetricStat_IsTheLatestPointOfTheRevisionsMetric_OverFivePeriods()
    {
        await using var platform = await AttachedAsync();
        await PutAsync(platform, revision: 3, (3, Errors: 4, Requests: 100), (2, Errors: 7, Requests: 140));
        await PutAsync(platform, revision: 2, (2, Errors: 50, Requests: 60));
        var mark = moto.RequestLog.Count();

        var reading = await ReadAsync(platform, "errors", revision: 3);

        reading.Value.ShouldBe(7);
        reading.Query.ShouldBe("errors = Backstay/Test Errors Sum/60s {Service=checkout, Revision=3}");
        var sent = Parameters(moto.RequestLog.Since(mark).Single(r => r.Operation == "monitoring:GetMetricData"));
        sent["StartTime"].ShouldBe(QueryXml.Iso(_end.AddMinutes(-5)), "a 30 s window reads five 60 s periods: CloudWatch publishes late");
        sent["EndTime"].ShouldBe(QueryXml.Iso(_end));
    }

    [Fact]
    public async Task Expression_IsSentWithoutMetricStat_InOneRequestWithTheMetricsItUses()
    {
        await using var platform = await AttachedAsync();
        await PutAsync(platform, revision: 5, (2, Errors: 7, Requests: 140));
        var mark = moto.RequestLog.Count();

        var ratio = await ReadAsync(platform, "error-rate", revision: 5);
        var byId = await ReadAsync(platform, "errors-by-id", revision: 5);

        // On AWS the ratio is 7 / 140 = 0.05 (see Expression_OnAws_IsTheLatestPointOfItsSeries); moto computes no arithmetic.
        ratio.Value.ShouldBeNull();
        ratio.Query.ShouldBe("rate = errors / requests; errors = Backstay/Test Errors Sum/60s {Service=checkout, Revision=5}; " +
            "requests = Backstay/Test Requests Sum/60s {Service=checkout, Revision=5}");
        byId.Value.ShouldBe(7, "moto does evaluate an expression that is one query's id: the value is the returning expression's");
        var sent = Parameters(moto.RequestLog.Since(mark).First(r => r.Operation == "monitoring:GetMetricData"));
        sent["MetricDataQueries.member.3.Id"].ShouldBe("rate");
        sent["MetricDataQueries.member.3.Expression"].ShouldBe("errors / requests");
        sent["MetricDataQueries.member.3.ReturnData"].ShouldBe("true");
        sent.Keys.Where(k => k.StartsWith("MetricDataQueries.member.3.", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .ShouldBe(["MetricDataQueries.member.3.Expression", "MetricDataQueries.member.3.Id", "MetricDataQueries.member.3.ReturnData"]);
        sent["MetricDataQueries.member.1.ReturnData"].ShouldBe("false");
        sent["MetricDataQueries.member.2.MetricStat.Metric.MetricName"].ShouldBe("Requests");
        sent["MetricDataQueries.member.2.MetricStat.Metric.Dimensions.member.2.Value"].ShouldBe("5");
    }

    [Fact]
    public async Task NoPointInTheWindow_IsNoData()
    {
        await using var platform = await AttachedAsync();

        var reading = await ReadAsync(platform, "errors", revision: 9);

        reading.Value.ShouldBeNull();
    }

    [Fact]
    public async Task AFailedCall_IsAMetricReadExceptionWithWhatAwsSaid()
    {
        await using var platform = await AttachedAsync();
        await PutAsync(platform, revision: 4, (2, Errors: 1, Requests: 10));

        // moto fails p99 with a 500 (AWS computes it); what matters is that a refused call becomes a reading that failed.
        var error = await Should.ThrowAsync<MetricReadException>(ReadAsync(platform, "errors-p99", revision: 4));
        var unknown = await Should.ThrowAsync<MetricReadException>(ReadAsync(platform, "errors", revision: 4, service: "billing"));

        error.Message.ShouldStartWith("CloudWatch GetMetricData failed on the AWS side (500");
        unknown.Message.ShouldContain("has not been told about service 'billing'");
    }

    [Fact]
    public async Task Expression_OnAws_IsTheLatestPointOfItsSeries()
    {
        // As AWS answers errors / requests with the two metrics' returnData false: only the expression's result.
        using var aws = new CannedAws(HttpStatusCode.OK, Answer("""
            <member><Id>rate</Id><Label>rate</Label><StatusCode>Complete</StatusCode>
              <Timestamps><member>2026-01-01T12:01:00Z</member><member>2026-01-01T12:02:00Z</member><member>2026-01-01T12:00:00Z</member></Timestamps>
              <Values><member>0.04</member><member>0.05</member><member>0.5</member></Values><Messages/></member>
            """));
        await using var platform = await AttachedAsync(aws);

        var reading = await ReadAsync(platform, "error-rate", revision: 3);

        reading.Value.ShouldBe(0.05);
    }

    [Fact]
    public async Task ABadExpressionOnAws_IsAMetricReadExceptionWithAwsMessage()
    {
        // AWS refuses an expression it cannot parse with a 400 ValidationError (moto answers it with no data).
        using var aws = new CannedAws(HttpStatusCode.BadRequest, """
            <ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
              <Error><Type>Sender</Type><Code>ValidationError</Code><Message>Error in expression 'rate': Unexpected end of input</Message></Error>
              <RequestId>0f1e2d3c-0000-4000-8000-000000000000</RequestId>
            </ErrorResponse>
            """);
        await using var platform = await AttachedAsync(aws);

        var error = await Should.ThrowAsync<MetricReadException>(ReadAsync(platform, "error-rate", revision: 3));

        error.Message.ShouldBe("CloudWatch GetMetricData failed (ValidationError: Error in expression 'rate': Unexpected end of input).");
    }

    [Theory]
    [InlineData("InternalError")]
    [InlineData("Forbidden")]
    public async Task AResultThatIsNotCompleteOrPartial_IsAMetricReadExceptionWithItsMessages(string status)
    {
        using var aws = new CannedAws(HttpStatusCode.OK, Answer($"""
            <member><Id>rate</Id><Label>rate</Label><StatusCode>{status}</StatusCode><Timestamps/><Values/>
              <Messages><member><Code>{status}</Code><Value>The data could not be read.</Value></member></Messages></member>
            """));
        await using var platform = await AttachedAsync(aws);

        var error = await Should.ThrowAsync<MetricReadException>(ReadAsync(platform, "error-rate", revision: 3));

        error.Message.ShouldBe($"CloudWatch answered {status} for query 'rate' ({status}: The data could not be read.)");
    }

    private async Task<MetricReading> ReadAsync(EcsPlatform platform, string metric, int revision, string service = "checkout")
    {
        var provider = platform.MetricProviders.ShouldHaveSingleItem();
        provider.Kind.ShouldBe(MetricProviders.CloudWatch);
        var spec = _spec.Analysis.Metrics.Single(m => m.Name == metric);
        return await provider.ReadAsync(spec, new MetricQuery(service, revision, revision - 1, TimeSpan.FromSeconds(30), _end), CancellationToken.None)
            .WaitAsync(Timeout);
    }

    /// <summary>A platform told about the spec (as a deployment would), on moto or on a canned AWS answer; one quick retry (the fewest the client takes), so a 500 fails at once.</summary>
    private async Task<EcsPlatform> AttachedAsync(HttpMessageHandler? aws = null)
    {
        var options = new EcsPlatformOptions { Aws = new AwsClientOptions { MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10), RateLimits = null } };
        var platform = aws is null
            ? new EcsPlatform(options, TimeProvider.System)
            : new EcsPlatform(options with
            {
                Credentials = new StaticCredentialSource(new AwsCredentials("testing", "testing")),
                Environment = new Dictionary<string, string> { ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1", ["AWS_REGION"] = MotoServer.Region },
            }, TimeProvider.System, logger: null, aws);
        await platform.AttachAsync(_spec, CancellationToken.None);
        return platform;
    }

    /// <summary>Publishes Errors and Requests of a revision, each point some minutes before the reading's end.</summary>
    private async Task PutAsync(EcsPlatform platform, int revision, params (int MinutesAgo, double Errors, double Requests)[] points)
    {
        var parameters = new List<KeyValuePair<string, string>> { new("Namespace", "Backstay/Test") };
        var n = 0;
        foreach (var (minutesAgo, errors, requests) in points)
        {
            foreach (var (name, value) in new[] { ("Errors", errors), ("Requests", requests) })
            {
                var p = $"MetricData.member.{++n}";
                parameters.Add(new($"{p}.MetricName", name));
                parameters.Add(new($"{p}.Value", value.ToString(CultureInfo.InvariantCulture)));
                parameters.Add(new($"{p}.Timestamp", QueryXml.Iso(_end.AddMinutes(-minutesAgo))));

                // In the queries' order: moto compares dimension lists sorted by a comparison that depends on their order.
                parameters.Add(new($"{p}.Dimensions.member.1.Name", "Service"));
                parameters.Add(new($"{p}.Dimensions.member.1.Value", "checkout"));
                parameters.Add(new($"{p}.Dimensions.member.2.Name", "Revision"));
                parameters.Add(new($"{p}.Dimensions.member.2.Value", revision.ToString(CultureInfo.InvariantCulture)));
            }
        }

        await platform.ClientsFor(MotoServer.Region).CloudWatch.Raw.CallAsync("PutMetricData", parameters, CancellationToken.None).WaitAsync(Timeout);
    }

    private static Dictionary<string, string> Parameters(MotoRequest request) =>
        request.Body.Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0]), p => Uri.UnescapeDataString(p[1].Replace('+', ' ')));

    private static string Answer(string results) => $"""
        <GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
          <GetMetricDataResult><MetricDataResults>{results}</MetricDataResults><Messages/></GetMetricDataResult>
          <ResponseMetadata><RequestId>f1b2c3d4-0000-4000-8000-000000000000</RequestId></ResponseMetadata>
        </GetMetricDataResponse>
        """;

    /// <summary>Answers every request with one AWS answer.</summary>
    private sealed class CannedAws(HttpStatusCode status, string body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "text/xml") });
    }
}
