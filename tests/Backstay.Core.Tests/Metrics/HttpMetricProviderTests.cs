using System.Net;
using System.Net.Sockets;
using Backstay.Core.Metrics;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
using Backstay.Core.Tests.Hooks;

namespace Backstay.Core.Tests.Metrics;

/// <summary>
/// The web and Prometheus providers against a real HTTP server on loopback: the URL each sends, the one number each
/// takes from the answer, and each way a source can fail said in words (never a silent value). Real Prometheus is
/// queried in Backstay.Platform.Local.Tests' PrometheusMetricTests.
/// </summary>
public sealed class HttpMetricProviderTests
{
    private static readonly MetricQuery Query = new("hello", 7, 6, TimeSpan.FromSeconds(30), DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));

    private static MetricSpec Web(LoopbackHttpServer server, string jsonPath, TimeSpan? timeout = null) => new()
    {
        Name = "m",
        Max = 1,
        Timeout = timeout ?? TimeSpan.FromSeconds(10),
        Web = new WebMetricSpec { Url = $"http://127.0.0.1:{server.Url.Port}/stats?service={{{{service}}}}&revision={{{{revision}}}}&window={{{{window}}}}", JsonPath = jsonPath },
    };

    private static MetricSpec Prometheus(LoopbackHttpServer server) => new()
    {
        Name = "m",
        Max = 1,
        Timeout = TimeSpan.FromSeconds(10),
        Prometheus = new PrometheusMetricSpec { Address = $"http://127.0.0.1:{server.Url.Port}/", Query = "sum(rate(x{revision=\"{{revision}}\"}[{{window}}]))" },
    };

    [Theory]
    [InlineData("""{ "latency": { "p99": 231.5 } }""", "$.latency.p99", 231.5)]
    [InlineData("""{ "latency": { "p99": "231.5" } }""", "$['latency']['p99']", 231.5)]
    [InlineData("""{ "series": [ { "v": 1 }, { "v": 2 }, { "v": 3 } ] }""", "$.series[-1].v", 3.0)]
    [InlineData("""[ 0.25 ]""", "$[0]", 0.25)]
    public async Task Web_NumberAtThePath_IsTheValueAndTheUrlIsFilledIn(string body, string path, double expected)
    {
        await using var server = LoopbackHttpServer.Json(_ => (200, body));

        var reading = await new WebMetricProvider().ReadAsync(Web(server, path), Query, CancellationToken.None);

        reading.Value.ShouldBe(expected);
        server.Requests.ShouldHaveSingleItem().Path.ShouldBe("/stats?service=hello&revision=7&window=30s");
        reading.Query.ShouldContain("revision=7");
    }

    [Theory]
    [InlineData("""{ "latency": null }""", "$.latency")]
    [InlineData("""{ "other": 1 }""", "$.latency.p99")]
    [InlineData("""{ "series": [] }""", "$.series[0]")]
    public async Task Web_NothingAtThePath_IsNoDataYet(string body, string path)
    {
        await using var server = LoopbackHttpServer.Json(_ => (200, body));

        var reading = await new WebMetricProvider().ReadAsync(Web(server, path), Query, CancellationToken.None);

        reading.Value.ShouldBeNull();
    }

    [Theory]
    [InlineData(200, """{ "latency": { "p99": 1 } }""", "$.latency", "points at {")]
    [InlineData(200, """{ "latency": "slow" }""", "$.latency", "not a number")]
    [InlineData(503, """{ "error": "warming up" }""", "$.v", "answered HTTP 503")]
    [InlineData(200, "<html>", "$.v", "did not answer with JSON")]
    public async Task Web_AnswerThatIsNotOneNumber_FailsSayingWhy(int status, string body, string path, string message)
    {
        await using var server = LoopbackHttpServer.Json(_ => (status, body));

        var error = await Should.ThrowAsync<MetricReadException>(() => new WebMetricProvider().ReadAsync(Web(server, path), Query, CancellationToken.None));

        error.Message.ShouldContain(message);
    }

    [Fact]
    public async Task Web_ServerThatNeverAnswers_FailsAtTheMetricsTimeout()
    {
        await using var server = new LoopbackHttpServer(_ => null);

        var error = await Should.ThrowAsync<MetricReadException>(
            () => new WebMetricProvider().ReadAsync(Web(server, "$.v", TimeSpan.FromMilliseconds(300)), Query, CancellationToken.None));

        error.Message.ShouldContain("did not answer within 0.3 s");
    }

    [Fact]
    public async Task Web_NothingListening_FailsSayingItCouldNotBeReached()
    {
        var port = FreePort();
        var metric = new MetricSpec { Name = "m", Max = 1, Web = new WebMetricSpec { Url = $"http://127.0.0.1:{port}/", JsonPath = "$.v" } };

        var error = await Should.ThrowAsync<MetricReadException>(() => new WebMetricProvider().ReadAsync(metric, Query, CancellationToken.None));

        error.Message.ShouldContain("could not be reached");
    }

    [Fact]
    public async Task Web_SecretEnv_SendsTheTokenAsABearerHeaderAndNeverShowsIt()
    {
        var name = "BACKSTAY_TEST_METRIC_TOKEN_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(name, "s3cret-token");
        try
        {
            await using var server = LoopbackHttpServer.Json(_ => (200, """{ "v": 1 }"""));
            var metric = Web(server, "$.v");
            metric = metric with { Web = metric.Web! with { SecretEnv = name } };

            var reading = await new WebMetricProvider().ReadAsync(metric, Query, CancellationToken.None);

            server.Requests.ShouldHaveSingleItem().Headers["Authorization"].ShouldBe("Bearer s3cret-token");
            reading.Query.ShouldNotContain("s3cret");
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public async Task Prometheus_SecretEnvNotSet_FailsNamingTheVariableWithoutAsking()
    {
        await using var server = LoopbackHttpServer.Json(_ => (200, "{}"));
        var metric = Prometheus(server);
        metric = metric with { Prometheus = metric.Prometheus! with { SecretEnv = "BACKSTAY_TEST_NEVER_SET_TOKEN" } };

        var error = await Should.ThrowAsync<MetricReadException>(() => new PrometheusMetricProvider().ReadAsync(metric, Query, CancellationToken.None));

        error.Message.ShouldBe("the secret environment variable BACKSTAY_TEST_NEVER_SET_TOKEN (secretEnv) is not set in the controller's environment");
        server.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Prometheus_VectorOfOneSeries_IsTheValueAndTheQueryIsFilledIn()
    {
        await using var server = LoopbackHttpServer.Json(_ => (200,
            """{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.125"]}]}}"""));

        var reading = await new PrometheusMetricProvider().ReadAsync(Prometheus(server), Query, CancellationToken.None);

        reading.Value.ShouldBe(0.125);
        reading.Query.ShouldBe("sum(rate(x{revision=\"7\"}[30s]))");
        var path = Uri.UnescapeDataString(server.Requests.ShouldHaveSingleItem().Path);
        path.ShouldBe("/api/v1/query?query=sum(rate(x{revision=\"7\"}[30s]))&time=1700000000");
    }

    [Theory]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[]}}""", null)]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}""", null)]
    [InlineData("""{"status":"success","data":{"resultType":"scalar","result":[1,"42"]}}""", 42.0)]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}""", double.PositiveInfinity)]
    public async Task Prometheus_EmptyNaNScalarOrInfinite_ReadsAsNoDataOrTheNumber(string body, double? expected)
    {
        await using var server = LoopbackHttpServer.Json(_ => (200, body));

        var reading = await new PrometheusMetricProvider().ReadAsync(Prometheus(server), Query, CancellationToken.None);

        reading.Value.ShouldBe(expected);
    }

    [Theory]
    [InlineData(200, """{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}""", "returned 2 series; it must return one number: aggregate it")]
    [InlineData(200, """{"status":"success","data":{"resultType":"matrix","result":[]}}""", "returned a matrix")]
    [InlineData(400, """{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"}""", "Prometheus refused the query (bad_data): 1:5: parse error")]
    [InlineData(200, """{"hello":"world"}""", "has no status; is the address Prometheus's")]
    [InlineData(404, "404 page not found", "answered HTTP 404")]
    public async Task Prometheus_AnswerThatIsNotOneNumber_FailsSayingWhy(int status, string body, string message)
    {
        await using var server = LoopbackHttpServer.Json(_ => (status, body));

        var error = await Should.ThrowAsync<MetricReadException>(() => new PrometheusMetricProvider().ReadAsync(Prometheus(server), Query, CancellationToken.None));

        error.Message.ShouldContain(message);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
