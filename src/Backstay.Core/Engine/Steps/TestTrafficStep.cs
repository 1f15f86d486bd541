using Backstay.Core.Ports;

namespace Backstay.Core.Engine.Steps;

/// <summary>Points the test listener (when the spec has one) at the target, or back at the stable revision.</summary>
internal static class TestTrafficStep
{
    public static async Task RunAsync(DeploymentContext context, TestTrafficAction test, CancellationToken cancellationToken)
    {
        if (!context.Plan.Spec.Platform.HasTestListener)
        {
            return;
        }

        var revision = test.ToTarget || context.Stable is null ? context.Target.Number : context.Stable.Number;
        await context.Platform.Traffic.SetWeightsAsync(context.Service, Listener.Test, new Dictionary<int, int> { [revision] = 100 }, cancellationToken);
        await context.Record.SaveAsync(context.Deployment with { TestTrafficOnTarget = test.ToTarget }, cancellationToken);
        await context.Record.EventAsync("TestTrafficShifted", $"test traffic: revision {revision} 100%", cancellationToken);
    }
}
