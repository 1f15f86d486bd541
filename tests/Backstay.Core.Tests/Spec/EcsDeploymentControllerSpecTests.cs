using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

public class EcsDeploymentControllerSpecTests
{
    private const string File = "backstay.yaml";

    [Fact]
    public void Parse_NoDeploymentController_IsExternal()
    {
        var spec = SpecLoader.Parse("""
            service: hello
            platform: { ecs: { cluster: prod, loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue, arn:green] } } }
            task: { image: hello:1 }
            """, File);

        spec.Platform.Ecs!.DeploymentController.ShouldBe("EXTERNAL");
        spec.Platform.Ecs.NativeRolling.ShouldBeFalse();
    }

    [Fact]
    public void Parse_EcsControllerWithRolling_ReadsIt()
    {
        var spec = SpecLoader.Parse("""
            service: hello
            platform:
              ecs:
                cluster: prod
                deploymentController: ECS
                loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue] }
            task: { image: hello:1 }
            strategy: { rolling: { batch: 2, maxUnavailable: 1 } }
            """, File);

        spec.Platform.Ecs!.NativeRolling.ShouldBeTrue();
        spec.Strategy.Rolling.ShouldBe(new RollingSpec { Batch = 2, MaxUnavailable = 1 });
    }

    [Theory]
    [InlineData("{ blueGreen: {} }", "blueGreen")]
    [InlineData("{ canary: { steps: [ { setWeight: 100 } ] } }", "canary")]
    [InlineData("{ linear: {} }", "linear")]
    [InlineData("{ phased: { phases: [50, 100] } }", "phased")]
    public void Validate_EcsControllerWithAnotherStrategy_NamesTheKeyAndPointsAtExternal(string strategy, string kind)
    {
        var errors = SpecLoader.Validate($$"""
            service: hello
            platform:
              ecs:
                cluster: prod
                deploymentController: ECS
                loadBalancer: { productionListener: arn:prod, testListener: arn:test, targetGroups: [arn:blue, arn:green] }
            task: { image: hello:1 }
            strategy: {{strategy}}
            """, File);

        var error = errors.ShouldHaveSingleItem();
        error.Key.ShouldBe("platform.ecs.deploymentController");
        (error.Line, error.Column).ShouldBe((5, 27));
        error.Message.ShouldStartWith($"ECS runs only rolling updates, but the strategy is {kind}; use `deploymentController: EXTERNAL`");
    }

    [Fact]
    public void Validate_UnknownController_SuggestsTheClosest()
    {
        var error = SpecLoader.Validate("""
            service: hello
            platform: { ecs: { cluster: prod, deploymentController: EXTERNL, loadBalancer: { productionListener: arn:prod, targetGroups: [arn:blue, arn:green] } } }
            task: { image: hello:1 }
            """, File).ShouldHaveSingleItem();

        error.Key.ShouldBe("platform.ecs.deploymentController");
        error.Message.ShouldBe("must be one of ECS, EXTERNAL, got 'EXTERNL'; did you mean 'EXTERNAL'?");
    }
}
