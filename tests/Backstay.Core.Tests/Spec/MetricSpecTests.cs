using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

/// <summary>analysis.metrics: custom metrics from Prometheus, a web endpoint or CloudWatch, read and checked like every other key.</summary>
public sealed class MetricSpecTests
{
    private const string Local = """
        service: hello
        platform: { local: {} }
        task: { image: builtin:hello }

        """;

    private const string Ecs = """
        service: hello
        platform:
          ecs:
            cluster: prod
            region: us-east-1
            loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue, arn:green] }
        task: { image: registry.example.com/hello:1.2 }

        """;

    private const string Prometheus = """
        analysis:
          metrics:
            - name: error-ratio
              max: 0.05
              interval: 2s
              prometheus:
                address: http://127.0.0.1:9090
                query: sum(rate(hello_requests_total{revision="{{revision}}",code=~"5.."}[{{window}}]))
            - name: p99
              min: 0
              max: 250
              dryRun: true
              web: { url: "http://127.0.0.1:8080/stats?service={{service}}&revision={{revision}}", jsonPath: "$.latency['p99']", secretEnv: STATS_TOKEN }
        """;

    private const string CloudWatch = """
        analysis:
          metrics:
            - name: error-ratio
              max: 0.02
              timeout: 10s
              cloudWatch:
                queries:
                  - { id: errors, namespace: AWS/ApplicationELB, metricName: HTTPCode_Target_5XX_Count, dimensions: { TargetGroup: "targetgroup/hello-{{revision}}/abc" }, stat: Sum, returnData: false }
                  - { id: requests, namespace: AWS/ApplicationELB, metricName: RequestCount, dimensions: { TargetGroup: "targetgroup/hello-{{revision}}/abc" }, stat: Sum, period: 60, returnData: false }
                  - { id: ratio, expression: "FILL(errors, 0) / requests" }
        """;

    private static IReadOnlyList<SpecError> Errors(string yaml) => SpecLoader.Validate(yaml, "backstay.yaml");

    [Fact]
    public void Parse_PrometheusAndWebMetrics_ReadsEveryKeyAndWritesThemBackTheSame()
    {
        var spec = SpecLoader.Parse(Local + Prometheus, "backstay.yaml");

        var metrics = spec.Analysis.Metrics;
        metrics.Count.ShouldBe(2);
        metrics[0].ShouldSatisfyAllConditions(
            m => m.Name.ShouldBe("error-ratio"),
            m => m.Max.ShouldBe(0.05),
            m => m.Min.ShouldBeNull(),
            m => m.Interval.ShouldBe(TimeSpan.FromSeconds(2)),
            m => m.Provider.ShouldBe("prometheus"),
            m => m.Prometheus!.Address.ShouldBe("http://127.0.0.1:9090"),
            m => m.Prometheus!.Query.ShouldContain("revision=\"{{revision}}\""));
        metrics[1].ShouldSatisfyAllConditions(
            m => m.DryRun.ShouldBeTrue(),
            m => m.Min.ShouldBe(0),
            m => m.Web!.JsonPath.ShouldBe("$.latency['p99']"),
            m => m.Web!.SecretEnv.ShouldBe("STATS_TOKEN"),
            m => m.Provider.ShouldBe("web"));

        // The API writes a JSON spec back as YAML and reads it with this same reader: nothing may be lost on the way.
        SpecLoader.Parse(SpecWriter.Write(spec), "backstay.yaml").Analysis.ShouldBe(spec.Analysis);
    }

    [Fact]
    public void Parse_CloudWatchMetricOnEcs_ReadsTheQueriesWithMetricMathAndWritesThemBackTheSame()
    {
        var spec = SpecLoader.Parse(Ecs + CloudWatch, "backstay.yaml");

        var queries = spec.Analysis.Metrics.ShouldHaveSingleItem().CloudWatch.ShouldNotBeNull().Queries;
        queries.Select(q => q.Id).ShouldBe(["errors", "requests", "ratio"]);
        queries[0].Dimensions["TargetGroup"].ShouldBe("targetgroup/hello-{{revision}}/abc");
        queries[0].ReturnData.ShouldBeFalse();
        queries[2].Expression.ShouldBe("FILL(errors, 0) / requests");
        queries[2].ReturnData.ShouldBeTrue();
        SpecLoader.Parse(SpecWriter.Write(spec), "backstay.yaml").Analysis.ShouldBe(spec.Analysis);
    }

    [Fact]
    public void Parse_AnalysisStepWithoutMetrics_InheritsTheTopLevelMetrics()
    {
        var spec = SpecLoader.Parse(Local + Prometheus + """

            strategy:
              canary:
                steps:
                  - setWeight: 10
                  - analysis: { window: 20s }
            """, "backstay.yaml");

        var step = spec.Strategy.Canary!.Steps.OfType<AnalysisStep>().Single();
        step.Analysis.Metrics.ShouldBe(spec.Analysis.Metrics);
    }

    [Theory]
    [InlineData("{ name: x, max: 1 }", "analysis.metrics[0]", "needs a provider: one of prometheus, web, cloudWatch")]
    [InlineData("{ name: x, max: 1, web: { url: 'http://a/', jsonPath: $.v }, prometheus: { address: 'http://p/', query: up } }", "analysis.metrics[0]", "has 2 providers (web, prometheus); a metric reads from exactly one")]
    [InlineData("{ name: x, prometheus: { address: 'http://p/', query: up } }", "analysis.metrics[0]", "needs a range to judge 'x' against")]
    [InlineData("{ name: x, max: 1, min: 2, prometheus: { address: 'http://p/', query: up } }", "analysis.metrics[0].max", "is below min (2)")]
    [InlineData("{ name: x, max: five, prometheus: { address: 'http://p/', query: up } }", "analysis.metrics[0].max", "must be a number such as 0.05")]
    [InlineData("{ name: x, max: 1, prometheus: { address: 'http://p/', query: 'up{revision=\"{{revison}}\"}' } }", "analysis.metrics[0].prometheus.query", "uses {{revison}}, which is not filled in; the placeholders are {{service}}, {{revision}}")]
    [InlineData("{ name: x, max: 1, prometheus: { address: localhost:9090, query: up } }", "analysis.metrics[0].prometheus.address", "must be an absolute http:// or https:// URL")]
    [InlineData("{ name: x, max: 1, prometheus: { adress: 'http://p/', query: up } }", "analysis.metrics[0].prometheus.adress", "did you mean 'address'?")]
    [InlineData("{ name: x, max: 1, web: { url: 'http://a/', jsonPath: 'data.value' } }", "analysis.metrics[0].web.jsonPath", "must start with $")]
    [InlineData("{ name: x, max: 1, web: { url: 'http://a/', jsonPath: '$.items[?(@.a)]' } }", "analysis.metrics[0].web.jsonPath", "no filters or wildcards")]
    [InlineData("{ name: x, max: 1, web: { url: 'http://a/' } }", "analysis.metrics[0].web.jsonPath", "is required")]
    [InlineData("{ name: x, max: 1, prometheus: { address: 'http://p/', query: up, secretEnv: 'my-token' } }", "analysis.metrics[0].prometheus.secretEnv", "must be the name of an environment variable")]
    [InlineData("{ name: x, dryRun: maybe, web: { url: 'http://a/', jsonPath: $.v } }", "analysis.metrics[0].dryRun", "must be true or false")]
    [InlineData("{ name: errorRate, max: 1, web: { url: 'http://a/', jsonPath: $.v } }", "analysis.metrics[0].name", "is the name of a built-in check")]
    [InlineData("{ name: x, max: 1, thresold: 2, web: { url: 'http://a/', jsonPath: $.v } }", "analysis.metrics[0].thresold", "")]
    public void Validate_MetricMistake_NamesTheKeyAndWhatWouldBeRight(string metric, string key, string message)
    {
        var errors = Errors(Local + $"analysis: {{ metrics: [ {metric} ] }}\n");

        // A misspelt key may also leave a required one missing; the misspelling is reported with a suggestion.
        var error = errors.Where(e => e.Key == key).ShouldHaveSingleItem(string.Join("\n", errors));
        error.Message.ShouldContain(message);
    }

    [Fact]
    public void Validate_TwoMetricsWithOneName_SaysEachNeedsItsOwn()
    {
        var errors = Errors(Local + "analysis: { metrics: [ { name: x, max: 1, web: { url: 'http://a/', jsonPath: $.v } }, { name: x, max: 2, web: { url: 'http://b/', jsonPath: $.v } } ] }\n");

        var error = errors.ShouldHaveSingleItem();
        error.Key.ShouldBe("analysis.metrics[1].name");
        error.Message.ShouldContain("'x' names another metric");
    }

    [Fact]
    public void Validate_CloudWatchMetricOnTheLocalPlatform_SaysItNeedsEcs()
    {
        var errors = Errors(Local + CloudWatch);

        var error = errors.ShouldHaveSingleItem(string.Join("\n", errors));
        error.Key.ShouldBe("analysis.metrics[0].cloudWatch");
        error.Message.ShouldContain("needs `platform: ecs`");
    }

    [Theory]
    [InlineData("[ { id: a, namespace: N, metricName: M, stat: Sum }, { id: b, namespace: N, metricName: M, stat: Sum } ]", "analysis.metrics[0].cloudWatch.queries", "2 queries return data; exactly one must")]
    [InlineData("[ { id: a, namespace: N, metricName: M, stat: Sum, returnData: false }, { id: r, expression: 'a / b' } ]", "analysis.metrics[0].cloudWatch.queries", "uses 'b', which is not the id of a query here")]
    [InlineData("[ { id: Errors, namespace: N, metricName: M, stat: Sum } ]", "analysis.metrics[0].cloudWatch.queries[0].id", "must start with a lowercase letter")]
    [InlineData("[ { id: a, namespace: N, metricName: M, stat: Sum, period: 45 } ]", "analysis.metrics[0].cloudWatch.queries[0].period", "multiple of 60")]
    [InlineData("[ { id: a, namespace: N, metricName: M } ]", "analysis.metrics[0].cloudWatch.queries[0].stat", "is required")]
    [InlineData("[ { id: a, expression: 'SUM(METRICS())', stat: Sum } ]", "analysis.metrics[0].cloudWatch.queries[0]", "either an expression or a metric")]
    public void Validate_CloudWatchQueryMistake_NamesTheKey(string queries, string key, string message)
    {
        var errors = Errors(Ecs + $"analysis: {{ metrics: [ {{ name: x, max: 1, cloudWatch: {{ queries: {queries} }} }} ] }}\n");

        var error = errors.ShouldHaveSingleItem(string.Join("\n", errors));
        error.Key.ShouldBe(key);
        error.Message.ShouldContain(message);
    }

    [Fact]
    public void Validate_SearchExpressionWithQuotedWords_IsNotMistakenForQueryIds()
    {
        var errors = Errors(Ecs + """
            analysis:
              metrics:
                - name: cpu
                  max: 80
                  cloudWatch:
                    queries:
                      - { id: cpu, expression: "MAX(SEARCH('{AWS/ECS,ServiceName} MetricName=\"CPUUtilization\" hello-{{revision}}', 'Average', 60))" }
            """);

        errors.ShouldBeEmpty(string.Join("\n", errors));
    }
}
