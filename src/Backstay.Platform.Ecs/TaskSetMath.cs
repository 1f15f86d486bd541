namespace Backstay.Platform.Ecs;

/// <summary>
/// Task-set scale is a percentage of the service's desired count, and ECS rounds the product up
/// (computedDesiredCount). These convert both ways exactly, in decimal.
/// </summary>
internal static class TaskSetMath
{
    /// <summary>The percentage (two decimals, rounded down) that makes ECS run exactly count tasks out of desired.</summary>
    public static double Percent(int count, int desired)
    {
        if (count <= 0 || desired <= 0)
        {
            return 0;
        }

        if (count >= desired)
        {
            return 100;
        }

        var percent = Math.Floor(count * 10000m / desired) / 100m;
        return (double)percent;
    }

    /// <summary>Tasks ECS runs for a scale percentage of the desired count.</summary>
    public static int Count(double percent, int desired)
    {
        if (percent <= 0 || desired <= 0)
        {
            return 0;
        }

        return (int)Math.Ceiling(desired * (decimal)percent / 100m);
    }
}
