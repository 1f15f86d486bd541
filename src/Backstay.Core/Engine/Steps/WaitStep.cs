namespace Backstay.Core.Engine.Steps;

/// <summary>Lets time pass while the watchdog judges the target (a bake); `continue --full` ends it.</summary>
internal static class WaitStep
{
    public static async Task RunAsync(DeploymentContext context, WaitAction wait, CancellationToken cancellationToken)
    {
        var until = context.Time.GetUtcNow() + wait.Duration;
        while (context.Time.GetUtcNow() < until && !context.SkipPauses)
        {
            await context.Watchdog.TickAsync(cancellationToken);
        }
    }
}
