using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

public class SpecLoaderParseTests
{
    internal const string FullExample = """
        service: hello
        platform:
          local:
            instances: 4
            listeners: { production: 127.0.0.1:8080, test: 127.0.0.1:8081 }
        task:
          image: builtin:hello
          args: [--greeting, hi]
          port: 9090
          env: { GREETING: hi, WORKERS: 4, DEBUG: true }
          startTimeout: 1m30s
          healthCheck: { path: /ready, interval: 2s, timeout: 500ms, healthyThreshold: 3, unhealthyThreshold: 4 }
        strategy:
          canary:
            steps:
              - setWeight: 10
              - analysis: { window: 5s, minRequests: 50, errorRate: { max: 1% }, latencyP99: { max: 300ms }, latencyP90: { max: 200ms }, consecutiveFailures: 3, interval: 250ms }
              - pause: {}
              - setWeight: 50
              - pause: { duration: 30s }
              - setWeight: 100
        analysis: { window: 10s, minRequests: 20, errorRate: { max: 5% }, consecutiveFailures: 2, interval: 100ms }
        hooks:
          AfterInstall: [ { exec: { command: [./smoke.sh, --fast], timeout: 2m } } ]
          AfterAllowTestTraffic: [ { http: { url: http://127.0.0.1:9000/verify, timeout: 30s, secretEnv: HOOK_SECRET, retries: 1 } } ]
          BeforeAllowTraffic: [ { pause: { timeout: 1h, onTimeout: continue } } ]
        rollback: { automatic: false, allPhasesAtOnce: true }
        retention: { keepPrevious: 5 }
        """;

    private const string Minimal = """
        service: hello
        platform: { local: {} }
        task: { image: builtin:hello }
        """;

    [Fact]
    public void Parse_FullExample_MapsServicePlatformAndTask()
    {
        var spec = SpecLoader.Parse(FullExample, "backstay.yaml");

        spec.Service.ShouldBe("hello");
        spec.SourcePath.ShouldBe("backstay.yaml");
        spec.Platform.Kind.ShouldBe("local");
        spec.Platform.Local.ShouldBe(new LocalPlatformSpec
        {
            Instances = 4,
            ProductionListener = "127.0.0.1:8080",
            TestListener = "127.0.0.1:8081",
        });
        spec.Platform.Ecs.ShouldBeNull();
        spec.Task.Image.ShouldBe("builtin:hello");
        spec.Task.Args.ShouldBe(["--greeting", "hi"]);
        spec.Task.Port.ShouldBe(9090);
        spec.Task.StartTimeout.ShouldBe(TimeSpan.FromSeconds(90));
        spec.Task.HealthCheck.ShouldBe(new HealthCheckSpec
        {
            Path = "/ready",
            Interval = TimeSpan.FromSeconds(2),
            Timeout = TimeSpan.FromMilliseconds(500),
            HealthyThreshold = 3,
            UnhealthyThreshold = 4,
        });
    }

    [Fact]
    public void Parse_FullExample_TakesEnvironmentNumbersAndBooleansAsText()
    {
        var spec = SpecLoader.Parse(FullExample, "backstay.yaml");

        spec.Task.Env.ShouldBe(new Dictionary<string, string>
        {
            ["GREETING"] = "hi",
            ["WORKERS"] = "4",
            ["DEBUG"] = "true",
        });
    }

    [Fact]
    public void Parse_FullExample_MapsCanaryStepsInOrder()
    {
        var spec = SpecLoader.Parse(FullExample, "backstay.yaml");

        spec.Strategy.Kind.ShouldBe("canary");
        var steps = spec.Strategy.Canary!.Steps;
        steps.Count.ShouldBe(6);
        steps[0].ShouldBe(new SetWeightStep(10));
        steps[2].ShouldBe(new PauseStep(null));
        steps[3].ShouldBe(new SetWeightStep(50));
        steps[4].ShouldBe(new PauseStep(TimeSpan.FromSeconds(30)));
        steps[5].ShouldBe(new SetWeightStep(100));
        var analysis = steps[1].ShouldBeOfType<AnalysisStep>().Analysis;
        analysis.ShouldBe(new AnalysisSpec
        {
            Window = TimeSpan.FromSeconds(5),
            MinRequests = 50,
            MaxErrorRate = 0.01,
            MaxLatencyP99 = TimeSpan.FromMilliseconds(300),
            MaxLatencyP90 = TimeSpan.FromMilliseconds(200),
            ConsecutiveFailures = 3,
            Interval = TimeSpan.FromMilliseconds(250),
        });
    }

    [Fact]
    public void Parse_FullExample_MapsAnalysisHooksRollbackAndRetention()
    {
        var spec = SpecLoader.Parse(FullExample, "backstay.yaml");

        spec.Analysis.Window.ShouldBe(TimeSpan.FromSeconds(10));
        spec.Analysis.MaxErrorRate.ShouldBe(0.05);
        spec.Analysis.MaxLatencyP99.ShouldBeNull();
        spec.Hooks.Keys.ShouldBe(["AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic"]);
        var exec = spec.Hooks["AfterInstall"].ShouldHaveSingleItem().Exec!;
        exec.Command.ShouldBe(["./smoke.sh", "--fast"]);
        exec.Timeout.ShouldBe(TimeSpan.FromMinutes(2));
        spec.Hooks["AfterAllowTestTraffic"].ShouldHaveSingleItem().Http.ShouldBe(new HttpHookSpec
        {
            Url = "http://127.0.0.1:9000/verify",
            Timeout = TimeSpan.FromSeconds(30),
            SecretEnv = "HOOK_SECRET",
            Retries = 1,
        });
        spec.Hooks["BeforeAllowTraffic"].ShouldHaveSingleItem().Pause.ShouldBe(new PauseHookSpec
        {
            Timeout = TimeSpan.FromHours(1),
            OnTimeout = "continue",
        });
        spec.Rollback.ShouldBe(new RollbackSpec { Automatic = false, AllPhasesAtOnce = true });
        spec.Retention.KeepPrevious.ShouldBe(5);
    }

    [Fact]
    public void Parse_MinimalSpec_UsesRecordDefaults()
    {
        var spec = SpecLoader.Parse(Minimal, "backstay.yaml");

        spec.Platform.Local.ShouldBe(new LocalPlatformSpec());
        spec.Task.Port.ShouldBe(8080);
        spec.Task.StartTimeout.ShouldBe(TimeSpan.FromSeconds(30));
        spec.Task.HealthCheck.ShouldBe(new HealthCheckSpec());
        spec.Task.Env.ShouldBeEmpty();
        spec.Task.Args.ShouldBeEmpty();
        spec.Strategy.Kind.ShouldBe("rolling");
        spec.Strategy.Rolling.ShouldBe(new RollingSpec());
        spec.Analysis.ShouldBe(new AnalysisSpec());
        spec.Hooks.ShouldBeEmpty();
        spec.Rollback.ShouldBe(new RollbackSpec());
        spec.Retention.ShouldBe(new RetentionSpec());
    }

    [Fact]
    public void Parse_CanaryEndingBelowFullWeight_AppendsSetWeight100()
    {
        var spec = SpecLoader.Parse(Minimal + """

            strategy:
              canary:
                steps:
                  - setWeight: 20
                  - pause: { duration: 1m }
            """, "backstay.yaml");

        spec.Strategy.Canary!.Steps.ShouldBe([new SetWeightStep(20), new PauseStep(TimeSpan.FromMinutes(1)), new SetWeightStep(100)]);
    }

    [Fact]
    public void Parse_AnalysisStep_InheritsTopLevelAnalysisForKeysLeftOut()
    {
        var spec = SpecLoader.Parse(Minimal + """

            strategy:
              canary:
                steps: [ { analysis: { window: 30s } }, { setWeight: 100 } ]
            analysis: { minRequests: 7, latencyP99: { max: 1s } }
            """, "backstay.yaml");

        spec.Strategy.Canary!.Steps[0].ShouldBe(new AnalysisStep(new AnalysisSpec
        {
            Window = TimeSpan.FromSeconds(30),
            MinRequests = 7,
            MaxLatencyP99 = TimeSpan.FromSeconds(1),
        }));
    }

    [Fact]
    public void Parse_ErrorRateNull_TurnsErrorRateCheckOff()
    {
        var spec = SpecLoader.Parse(Minimal + "\nanalysis: { errorRate: null }", "backstay.yaml");

        spec.Analysis.MaxErrorRate.ShouldBeNull();
    }

    [Theory]
    [InlineData("1%", 0.01)]
    [InlineData("0.5%", 0.005)]
    [InlineData("0.01", 0.01)]
    [InlineData("100%", 1.0)]
    public void Parse_ErrorRatePercentageOrFraction_StoresFraction(string written, double expected)
    {
        var spec = SpecLoader.Parse(Minimal + $"\nanalysis: {{ errorRate: {{ max: {written} }} }}", "backstay.yaml");

        spec.Analysis.MaxErrorRate!.Value.ShouldBe(expected, tolerance: 1e-12);
    }

    [Theory]
    [InlineData("{ max: 5%, maxIncrease: +1% }", 0.05, 0.01, false)]
    [InlineData("{ maxIncrease: 2x }", 0.05, 2.0, true)]
    [InlineData("{ max: null, maxIncrease: 1.5x }", null, 1.5, true)]
    public void Parse_ErrorRateMaxIncrease_ComparesWithTheStableRevisionAndKeepsOrDropsTheAbsoluteLimit(string written, double? max, double value, bool relative)
    {
        var spec = SpecLoader.Parse(Minimal + $"\nanalysis: {{ errorRate: {written}, confidence: 99% }}", "backstay.yaml");

        spec.Analysis.MaxErrorRate.ShouldBe(max);
        spec.Analysis.MaxErrorRateIncrease.ShouldBe(new ErrorRateIncrease(value, relative));
        spec.Analysis.Confidence.ShouldBe(0.99, 1e-12);
        var again = SpecLoader.Parse(SpecWriter.Write(spec), "backstay.yaml");
        again.Analysis.ShouldBe(spec.Analysis);
    }

    [Fact]
    public void Parse_EcsBlueGreen_MapsLoadBalancerAndAlarms()
    {
        var spec = SpecLoader.Parse("""
            service: hello
            platform:
              ecs:
                cluster: prod
                service: hello-svc
                region: us-east-1
                container: web
                desiredCount: 2
                loadBalancer:
                  productionListener: arn:prod
                  testListener: arn:test
                  targetGroups: [arn:blue, arn:green]
                alarms: [hello-5xx, hello-latency]
            task: { image: registry.example.com/hello:1.2 }
            strategy:
              blueGreen: { bake: 30s, keepPreviousFor: 10m }
            """, "backstay.yaml");

        spec.Platform.Kind.ShouldBe("ecs");
        spec.Platform.Instances.ShouldBe(2);
        var ecs = spec.Platform.Ecs!;
        ecs.Cluster.ShouldBe("prod");
        ecs.Service.ShouldBe("hello-svc");
        ecs.Region.ShouldBe("us-east-1");
        ecs.Container.ShouldBe("web");
        ecs.Alarms.ShouldBe(["hello-5xx", "hello-latency"]);
        ecs.LoadBalancer!.ProductionListener.ShouldBe("arn:prod");
        ecs.LoadBalancer.TestListener.ShouldBe("arn:test");
        ecs.LoadBalancer.TargetGroups.ShouldBe(["arn:blue", "arn:green"]);
        spec.Strategy.BlueGreen.ShouldBe(new BlueGreenSpec
        {
            TestTraffic = true,
            Bake = TimeSpan.FromSeconds(30),
            KeepPreviousFor = TimeSpan.FromMinutes(10),
        });
    }

    [Fact]
    public void Parse_OtherStrategies_MapTheirSettings()
    {
        SpecLoader.Parse(Minimal + "\nstrategy: { rolling: { batch: 2, maxUnavailable: 1 } }", "f.yaml")
            .Strategy.Rolling.ShouldBe(new RollingSpec { Batch = 2, MaxUnavailable = 1 });
        SpecLoader.Parse(Minimal + "\nstrategy: { linear: { stepPercent: 25, interval: 30s } }", "f.yaml")
            .Strategy.Linear.ShouldBe(new LinearSpec { StepPercent = 25, Interval = TimeSpan.FromSeconds(30) });
        var phased = SpecLoader.Parse(Minimal + "\nstrategy: { phased: { phases: [25, 50, 100], pauseBetween: 30s } }", "f.yaml")
            .Strategy.Phased!;
        phased.Phases.ShouldBe([25, 50, 100]);
        phased.PauseBetween.ShouldBe(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Parse_StrategyKindLeftEmpty_UsesThatStrategysDefaults()
    {
        var spec = SpecLoader.Parse("""
            service: hello
            platform: { local: { listeners: { test: 127.0.0.1:8081 } } }
            task: { image: builtin:hello }
            strategy:
              blueGreen:
            """, "backstay.yaml");

        spec.Strategy.BlueGreen.ShouldBe(new BlueGreenSpec());
    }

    [Fact]
    public void Parse_InvalidSpec_ThrowsSpecExceptionCarryingEveryError()
    {
        var ex = Should.Throw<SpecException>(() => SpecLoader.Parse("service: Bad Name\nplatform: {}\n", "bad.yaml"));

        ex.Errors.Count.ShouldBe(3);
        ex.Message.ShouldContain("bad.yaml:1:10: service:");
        ex.Message.ShouldContain("task: is required");
    }

    [Fact]
    public void Validate_FullExample_ReturnsNoErrors()
    {
        SpecLoader.Validate(FullExample, "backstay.yaml").ShouldBeEmpty();
    }

    [Fact]
    public void Load_ExistingFile_ReadsItAndSetsSourcePath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"backstay-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, Minimal);
        try
        {
            var spec = SpecLoader.Load(path);

            spec.Service.ShouldBe("hello");
            spec.SourcePath.ShouldBe(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_MissingFile_ThrowsOneErrorSayingHowToCreateOne()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}", "backstay.yaml");

        var ex = Should.Throw<SpecException>(() => SpecLoader.Load(path));

        var error = ex.Errors.ShouldHaveSingleItem();
        error.File.ShouldBe(path);
        error.Message.ShouldContain("file not found");
        error.Message.ShouldContain("backstay.yaml");
        error.Message.ShouldContain("docs/spec.md");
    }

    [Fact]
    public void Load_Directory_SaysToPassTheFile()
    {
        var ex = Should.Throw<SpecException>(() => SpecLoader.Load(Path.GetTempPath()));

        ex.Errors.ShouldHaveSingleItem().Message.ShouldContain("is a directory");
    }
}
