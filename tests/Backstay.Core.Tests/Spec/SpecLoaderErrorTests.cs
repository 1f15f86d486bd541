using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

public class SpecLoaderErrorTests
{
    private static IReadOnlyList<SpecError> Errors(string yaml) => SpecLoader.Validate(yaml, "backstay.yaml");

    private static SpecError SingleError(string yaml) => Errors(yaml).ShouldHaveSingleItem();

    private static void ShouldBeAt(SpecError error, int line, int column, string key)
    {
        error.File.ShouldBe("backstay.yaml");
        error.Line.ShouldBe(line, error.ToString());
        error.Column.ShouldBe(column, error.ToString());
        error.Key.ShouldBe(key, error.ToString());
    }

    [Fact]
    public void Validate_UnclosedQuote_ReportsSyntaxErrorWithPosition()
    {
        var error = SingleError("""
            service: hello
            task: { image: "builtin:hello }
            """);

        ShouldBeAt(error, 2, 16, "(syntax)");
        error.Message.ShouldStartWith("invalid YAML:");
        error.Message.ShouldContain("close the quote");
    }

    [Fact]
    public void Validate_UnclosedFlowList_PointsAtTheOpeningBracket()
    {
        var error = SingleError("""
            service: hello
            task: { image: x, args: [a, b
            retention: { keepPrevious: 3 }
            """);

        ShouldBeAt(error, 2, 25, "(syntax)");
        error.Message.ShouldContain("'[' is never closed; add ']'");
    }

    [Fact]
    public void Validate_TabIndentation_PointsAtTheTab()
    {
        var error = SingleError("service: hello\nplatform:\n\tlocal: {}\n");

        ShouldBeAt(error, 3, 1, "(syntax)");
        error.Message.ShouldContain("indent with spaces, not tabs");
    }

    [Fact]
    public void Validate_DuplicateKey_ReportsTheSecondOne()
    {
        var error = SingleError("""
            service: hello
            service: other
            """);

        ShouldBeAt(error, 2, 1, "(syntax)");
        error.Message.ShouldStartWith("duplicate key 'service'");
    }

    [Fact]
    public void Validate_UnknownKey_SuggestsTheClosestAndListsAllowedKeys()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            stratgy: { rolling: {} }
            """);

        ShouldBeAt(error, 4, 1, "stratgy");
        error.Message.ShouldBe("unknown key 'stratgy'; did you mean 'strategy'? Allowed keys: service, platform, task, strategy, analysis, hooks, rollback, retention, notifications");
    }

    [Fact]
    public void Validate_NestedUnknownKeyFarFromAnyAllowed_ListsAllowedKeysWithoutSuggestion()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task:
              image: builtin:hello
              memory: 512
            """);

        ShouldBeAt(error, 5, 3, "task.memory");
        error.Message.ShouldBe("unknown key 'memory'. Allowed keys: image, args, port, env, startTimeout, healthCheck");
    }

    [Fact]
    public void Validate_UnknownHookStage_SuggestsTheStage()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            hooks:
              afterInstall: [ { exec: { command: [./smoke.sh] } } ]
            """);

        ShouldBeAt(error, 5, 3, "hooks.afterInstall");
        error.Message.ShouldStartWith("unknown lifecycle stage 'afterInstall'; did you mean 'AfterInstall'?");
    }

    [Fact]
    public void Validate_WrongType_SaysWhatWasExpectedAndWhatWasFound()
    {
        var error = SingleError("""
            service: hello
            platform:
              local:
                instances: [3]
            task: { image: builtin:hello }
            """);

        ShouldBeAt(error, 4, 16, "platform.local.instances");
        error.Message.ShouldBe("must be a whole number from 1 to 64, got a list");
    }

    [Fact]
    public void Validate_ScalarWhereMappingBelongs_ShowsAnExample()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: builtin:hello
            """);

        ShouldBeAt(error, 3, 7, "task");
        error.Message.ShouldBe("must be a mapping such as `{ image: builtin:hello, port: 8080 }`, got 'builtin:hello'");
    }

    [Fact]
    public void Validate_NotANumber_GivesRangeAndValue()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            strategy:
              canary:
                steps:
                  - setWeight: abc
            """);

        ShouldBeAt(error, 7, 20, "strategy.canary.steps[0].setWeight");
        error.Message.ShouldBe("must be a whole number from 0 to 100, got 'abc'");
    }

    [Fact]
    public void Validate_OutOfRange_GivesRangeAndValue()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello, port: 70000 }
            """);

        ShouldBeAt(error, 3, 37, "task.port");
        error.Message.ShouldBe("must be a whole number from 1 to 65535, got 70000");
    }

    [Fact]
    public void Validate_QuotedNumber_AsksToRemoveTheQuotes()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            retention: { keepPrevious: "3" }
            """);

        ShouldBeAt(error, 4, 28, "retention.keepPrevious");
        error.Message.ShouldContain("remove the quotes");
    }

    [Fact]
    public void Validate_DecreasingWeights_NamesTheEarlierStep()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            strategy:
              canary:
                steps:
                  - setWeight: 10
                  - analysis: { window: 5s }
                  - setWeight: 50
                  - pause: {}
                  - setWeight: 20
            """);

        ShouldBeAt(error, 11, 20, "strategy.canary.steps[4].setWeight");
        error.Message.ShouldStartWith("must not be lower than 50, the weight set at strategy.canary.steps[2].setWeight; weights only grow");
    }

    [Fact]
    public void Validate_EmptyCanarySteps_AsksForAtLeastOneStep()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            strategy: { canary: { steps: [] } }
            """);

        ShouldBeAt(error, 4, 30, "strategy.canary.steps");
        error.Message.ShouldStartWith("needs at least one step; write e.g. `steps: [");
    }

    [Fact]
    public void Validate_CanaryStepWithTwoActions_AsksToSplitIt()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            strategy:
              canary:
                steps:
                  - { setWeight: 10, pause: {} }
            """);

        ShouldBeAt(error, 7, 26, "strategy.canary.steps[0]");
        error.Message.ShouldContain("split it into separate steps");
    }

    [Fact]
    public void Validate_MissingRequiredImage_NamesTheKeyAndAnExample()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task:
              port: 8080
            """);

        ShouldBeAt(error, 4, 3, "task.image");
        error.Message.ShouldBe("is required; add e.g. `image: builtin:hello`");
    }

    [Fact]
    public void Validate_MissingTopLevelSections_ReportsEachAtTheDocumentStart()
    {
        var errors = Errors("retention: { keepPrevious: 3 }\n");

        errors.Select(error => error.Key).ShouldBe(["service", "platform", "task"]);
        errors.ShouldAllBe(error => error.Line == 1 && error.Column == 1);
        errors[1].Message.ShouldContain("`platform: { local: { instances: 3 } }`");
    }

    [Fact]
    public void Validate_BareNumberDuration_AsksForAUnit()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello, startTimeout: 30 }
            """);

        ShouldBeAt(error, 3, 45, "task.startTimeout");
        error.Message.ShouldBe("must be a duration with a unit, got '30'; write e.g. '30s' (units: ms, s, m, h)");
    }

    [Theory]
    [InlineData("5 minutes")]
    [InlineData("1d")]
    [InlineData("-5s")]
    [InlineData("s")]
    public void Validate_BadDuration_ListsTheAcceptedForms(string written)
    {
        var error = SingleError($$"""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello, healthCheck: { interval: {{written}} } }
            """);

        error.Key.ShouldBe("task.healthCheck.interval");
        error.Message.ShouldBe($"must be a duration such as 500ms, 10s, 5m, 1h or 1m30s, got '{written}'");
    }

    [Fact]
    public void Validate_ZeroDurationWherePositiveNeeded_SaysSo()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            analysis: { window: 0s }
            """);

        ShouldBeAt(error, 4, 21, "analysis.window");
        error.Message.ShouldStartWith("must be longer than zero");
    }

    [Fact]
    public void Validate_FractionAboveOne_SuggestsPercentSign()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            analysis:
              errorRate: { max: 5 }
            """);

        ShouldBeAt(error, 5, 21, "analysis.errorRate.max");
        error.Message.ShouldContain("write '5%' if you meant percent");
    }

    [Theory]
    [InlineData("1%")]
    [InlineData("0.5x")]
    [InlineData("double")]
    public void Validate_BadMaxIncrease_SaysWhichFormsAreAccepted(string written)
    {
        var error = SingleError($$"""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            analysis: { errorRate: { maxIncrease: {{written}} } }
            """);

        error.Key.ShouldBe("analysis.errorRate.maxIncrease");
        error.Message.ShouldContain("`+1%` (percentage points, above 0) or `2x` (a factor, at least 1)");
    }

    [Fact]
    public void Validate_ConfidenceOutOfRange_NamesTheKey()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            analysis: { confidence: 30% }
            """);

        error.Key.ShouldBe("analysis.confidence");
        error.Message.ShouldContain("between 50% and 99.99%");
    }

    [Theory]
    [InlineData("five")]
    [InlineData("0%")]
    [InlineData("150%")]
    public void Validate_BadPercentage_SaysWhatIsAccepted(string written)
    {
        var error = SingleError($$"""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            analysis: { errorRate: { max: {{written}} } }
            """);

        error.Key.ShouldBe("analysis.errorRate.max");
        error.Message.ShouldStartWith("must be a percentage such as 1% or 0.5%, or a fraction such as 0.01, above 0 and at most 100%");
    }

    [Fact]
    public void Validate_TwoStrategies_ReportsTheSecondOne()
    {
        var error = SingleError("""
            service: hello
            platform: { local: { listeners: { test: 127.0.0.1:8081 } } }
            task: { image: builtin:hello }
            strategy:
              rolling: {}
              blueGreen: {}
            """);

        ShouldBeAt(error, 6, 3, "strategy");
        error.Message.ShouldBe("sets both 'rolling' and 'blueGreen', but a deployment uses one strategy; keep one of them");
    }

    [Fact]
    public void Validate_EmptyStrategy_ListsTheChoices()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            strategy: {}
            """);

        ShouldBeAt(error, 4, 11, "strategy");
        error.Message.ShouldStartWith("must set exactly one of rolling, blueGreen, canary, linear, phased");
    }

    [Fact]
    public void Validate_TwoPlatforms_ReportsTheSecondOne()
    {
        var error = SingleError("""
            service: hello
            platform:
              local: {}
              ecs: { cluster: prod }
            task: { image: builtin:hello }
            """);

        ShouldBeAt(error, 4, 3, "platform");
        error.Message.ShouldBe("sets both 'local' and 'ecs', but a service runs on one platform; keep either local or ecs");
    }

    [Fact]
    public void Validate_BlueGreenOnLocalWithoutTestListener_AsksToAddIt()
    {
        var error = SingleError("""
            service: hello
            platform:
              local:
                listeners: { production: 127.0.0.1:8080 }
            task: { image: builtin:hello }
            strategy: { blueGreen: { bake: 30s } }
            """);

        ShouldBeAt(error, 4, 16, "platform.local.listeners.test");
        error.Message.ShouldContain("add `test: 127.0.0.1:8081`");
        error.Message.ShouldContain("set strategy.blueGreen.testTraffic: false");
    }

    [Fact]
    public void Validate_BlueGreenWithoutTestTraffic_NeedsNoTestListener()
    {
        Errors("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            strategy: { blueGreen: { testTraffic: false } }
            """).ShouldBeEmpty();
    }

    [Fact]
    public void Validate_SameProductionAndTestListener_AsksForAnotherPort()
    {
        var error = SingleError("""
            service: hello
            platform:
              local:
                listeners: { production: 127.0.0.1:8080, test: 127.0.0.1:8080 }
            task: { image: builtin:hello }
            """);

        ShouldBeAt(error, 4, 52, "platform.local.listeners.test");
        error.Message.ShouldBe("must differ from production (127.0.0.1:8080); the test listener needs its own port, e.g. 127.0.0.1:8081");
    }

    [Theory]
    [InlineData("8080")]
    [InlineData("localhost")]
    [InlineData("127.0.0.1:0")]
    [InlineData("::1:8080")]
    public void Validate_BadListenerAddress_AsksForHostAndPort(string written)
    {
        var error = SingleError($$"""
            service: hello
            platform: { local: { listeners: { production: "{{written}}" } } }
            task: { image: builtin:hello }
            """);

        error.Key.ShouldBe("platform.local.listeners.production");
        error.Message.ShouldBe($"must be host:port with a port from 1 to 65535, e.g. 127.0.0.1:8080, got '{written}'");
    }

    [Fact]
    public void Validate_EcsCanaryWithOneTargetGroup_AsksForTwo()
    {
        var error = SingleError("""
            service: hello
            platform:
              ecs:
                cluster: prod
                loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue] }
            task: { image: hello:1 }
            strategy: { canary: { steps: [ { setWeight: 100 } ] } }
            """);

        ShouldBeAt(error, 5, 65, "platform.ecs.loadBalancer.targetGroups");
        error.Message.ShouldStartWith("must list exactly 2 target groups for the canary strategy (one for each revision), got 1");
    }

    [Fact]
    public void Validate_EcsLinearWithoutLoadBalancer_AsksForOne()
    {
        var error = SingleError("""
            service: hello
            platform:
              ecs: { cluster: prod }
            task: { image: hello:1 }
            strategy: { linear: {} }
            """);

        ShouldBeAt(error, 3, 8, "platform.ecs.loadBalancer");
        error.Message.ShouldStartWith("is required for the linear strategy");
    }

    [Theory]
    [InlineData("{ rolling: {} }", "rolling")]
    [InlineData("{ phased: { phases: [50, 100] } }", "phased")]
    public void Validate_EcsStrategyWithoutLoadBalancer_AsksForOne(string strategy, string kind)
    {
        var error = SingleError($$"""
            service: hello
            platform:
              ecs: { cluster: prod }
            task: { image: hello:1 }
            strategy: {{strategy}}
            """);

        ShouldBeAt(error, 3, 8, "platform.ecs.loadBalancer");
        error.Message.ShouldStartWith($"is required for the {kind} strategy on ECS");
        error.Message.ShouldContain("loadBalancer: { productionListener: arn:..., targetGroups: [arn:...blue, arn:...green] }");
    }

    [Fact]
    public void Validate_EcsWithoutStrategyOrLoadBalancer_AsksForOne()
    {
        var error = SingleError("""
            service: hello
            platform:
              ecs: { cluster: prod }
            task: { image: hello:1 }
            """);

        ShouldBeAt(error, 3, 8, "platform.ecs.loadBalancer");
        error.Message.ShouldStartWith("is required for the rolling strategy on ECS");
    }

    [Fact]
    public void Validate_EcsRollingWithOneTargetGroup_AsksForTwo()
    {
        var error = SingleError("""
            service: hello
            platform:
              ecs:
                cluster: prod
                loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue] }
            task: { image: hello:1 }
            strategy: { rolling: {} }
            """);

        ShouldBeAt(error, 5, 65, "platform.ecs.loadBalancer.targetGroups");
        error.Message.ShouldStartWith("must list exactly 2 target groups for the rolling strategy (one for each revision), got 1");
    }

    [Fact]
    public void Validate_EcsControllerRollingWithoutTargetGroup_AsksForOne()
    {
        var error = SingleError("""
            service: hello
            platform:
              ecs:
                cluster: prod
                deploymentController: ECS
                loadBalancer: { productionListener: arn:prod }
            task: { image: hello:1 }
            strategy: { rolling: {} }
            """);

        ShouldBeAt(error, 6, 19, "platform.ecs.loadBalancer.targetGroups");
        error.Message.ShouldStartWith("must name the target group the production listener forwards to");
    }

    [Fact]
    public void Validate_EcsWithoutCluster_SaysClusterIsRequired()
    {
        var error = SingleError("""
            service: hello
            platform:
              ecs: { region: us-east-1, loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue, arn:green] } }
            task: { image: hello:1 }
            """);

        ShouldBeAt(error, 3, 8, "platform.ecs.cluster");
        error.Message.ShouldBe("is required; add e.g. `cluster: prod`");
    }

    [Fact]
    public void Validate_BadServiceName_SuggestsAValidOne()
    {
        var error = SingleError("""
            service: Hello_World
            platform: { local: {} }
            task: { image: builtin:hello }
            """);

        ShouldBeAt(error, 1, 10, "service");
        error.Message.ShouldBe("must be 1 to 63 lowercase letters, digits or '-', starting with a letter or digit, got 'Hello_World'; for example 'hello-world'");
    }

    [Fact]
    public void Validate_BadEnvironmentName_SaysWhatNamesMayHold()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task:
              image: builtin:hello
              env: { GREETING: hi, LOG-LEVEL: debug }
            """);

        ShouldBeAt(error, 5, 24, "task.env.LOG-LEVEL");
        error.Message.ShouldContain("for example 'LOG_LEVEL'");
    }

    [Fact]
    public void Validate_HealthCheckTimeoutNotBelowInterval_SaysItMustBeShorter()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task:
              image: builtin:hello
              healthCheck: { path: /healthz, interval: 1s, timeout: 2s }
            """);

        ShouldBeAt(error, 5, 57, "task.healthCheck.timeout");
        error.Message.ShouldStartWith("must be shorter than the interval (1s), got 2s");
    }

    [Fact]
    public void Validate_HealthCheckPathWithoutSlash_SuggestsOne()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello, healthCheck: { path: healthz } }
            """);

        error.Key.ShouldBe("task.healthCheck.path");
        error.Message.ShouldBe("must be a URL path starting with '/', e.g. '/healthz', got 'healthz'");
    }

    [Fact]
    public void Validate_PhasesNotGrowingAndNotEndingAt100_ReportsBoth()
    {
        var errors = Errors("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            strategy: { phased: { phases: [50, 25, 90] } }
            """);

        errors.Count.ShouldBe(2);
        ShouldBeAt(errors[0], 4, 36, "strategy.phased.phases[1]");
        errors[0].Message.ShouldStartWith("must be larger than the phase before it (50), got 25");
        ShouldBeAt(errors[1], 4, 40, "strategy.phased.phases[2]");
        errors[1].Message.ShouldStartWith("the last phase must be 100");
    }

    [Fact]
    public void Validate_HookMistakes_AreEachReportedUnderTheirPath()
    {
        var errors = Errors("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            hooks:
              AfterInstall:
                - exec: { command: [] }
                - { exec: { command: [./a.sh] }, http: { url: http://x } }
              AfterAllowTestTraffic:
                - http: { url: /verify }
              BeforeAllowTraffic:
                - pause: { onTimeout: rollbak }
              Bake:
                - exec: { command: ./smoke.sh --fast }
            """);

        errors.Select(error => error.Key).ShouldBe(
        [
            "hooks.AfterInstall[0].exec.command",
            "hooks.AfterInstall[1]",
            "hooks.AfterAllowTestTraffic[0].http.url",
            "hooks.BeforeAllowTraffic[0].pause.onTimeout",
            "hooks.Bake[0].exec.command",
        ]);
        errors[0].Message.ShouldStartWith("must name at least the program to run");
        errors[1].Message.ShouldContain("a hook is one action");
        errors[2].Message.ShouldBe("must be an absolute http:// or https:// URL such as http://127.0.0.1:9000/verify, got '/verify'");
        errors[3].Message.ShouldBe("must be one of rollback, continue, got 'rollbak'; did you mean 'rollback'?");
        errors[4].Message.ShouldContain("write each argument as its own item");
    }

    [Fact]
    public void Validate_HooksStageNotAList_AsksForAList()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            hooks:
              AfterInstall: { exec: { command: [./smoke.sh] } }
            """);

        ShouldBeAt(error, 5, 17, "hooks.AfterInstall");
        error.Message.ShouldContain("must be a list of hooks");
    }

    [Fact]
    public void Validate_NotTrueOrFalse_SaysSo()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            rollback: { automatic: yes }
            """);

        ShouldBeAt(error, 4, 24, "rollback.automatic");
        error.Message.ShouldBe("must be true or false, got 'yes'");
    }

    [Fact]
    public void Validate_EmptyFile_SaysWhatASpecNeeds()
    {
        var error = SingleError("# nothing yet\n");

        ShouldBeAt(error, 1, 1, "(document)");
        error.Message.ShouldStartWith("the file is empty; a spec needs at least `service: hello`");
    }

    [Fact]
    public void Validate_RootIsAList_AsksForAMapping()
    {
        var error = SingleError("- service: hello\n");

        ShouldBeAt(error, 1, 1, "(document)");
        error.Message.ShouldEndWith("got a list");
    }

    [Fact]
    public void Validate_TwoDocuments_AsksToKeepOne()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello }
            ---
            service: other
            """);

        ShouldBeAt(error, 5, 1, "(document)");
        error.Message.ShouldContain("a spec is a single document");
    }

    [Fact]
    public void Validate_SeveralMistakes_ReportsAllInFileOrder()
    {
        var errors = Errors("""
            service: hello
            platfrom: { local: {} }
            task:
              image: builtin:hello
              port: http
              startTimeout: 30
            strategy:
              canary:
                steps:
                  - setWeight: 50
                  - setWeight: 10
            retention: { keepPrevious: 1000 }
            """);

        errors.Select(error => $"{error.Line}:{error.Column} {error.Key}").ShouldBe(
        [
            "1:1 platform",
            "2:1 platfrom",
            "5:9 task.port",
            "6:17 task.startTimeout",
            "11:20 strategy.canary.steps[1].setWeight",
            "12:28 retention.keepPrevious",
        ]);
        errors[1].Message.ShouldContain("did you mean 'platform'?");
    }

    [Fact]
    public void SpecError_ToString_ReadsAsFileLineColumnKeyMessage()
    {
        var error = SingleError("""
            service: hello
            platform: { local: {} }
            task: { image: builtin:hello, port: 0 }
            """);

        error.ToString().ShouldBe("backstay.yaml:3:37: task.port: must be a whole number from 1 to 65535, got 0");
    }
}
