namespace Backstay.Platform.Local.Tests;

public sealed class WeightPlannerTests
{
    [Theory]
    [InlineData(90, 10, 2, 2)]
    [InlineData(90, 10, 3, 3)]
    [InlineData(99, 1, 5, 1)]
    [InlineData(1, 99, 5, 1)]
    [InlineData(50, 50, 3, 1)]
    [InlineData(75, 25, 1, 7)]
    [InlineData(33, 67, 4, 4)]
    public void Plan_TwoRevisions_KeepsTheSplitWithinOnePercent(int first, int second, int firstCount, int secondCount)
    {
        var plan = WeightPlanner.Plan(
            new Dictionary<int, int> { [1] = first, [2] = second },
            new Dictionary<int, int> { [1] = firstCount, [2] = secondCount });

        plan[1].Length.ShouldBe(firstCount);
        plan[2].Length.ShouldBe(secondCount);
        plan.Values.SelectMany(w => w).ShouldAllBe(w => w >= 1 && w <= 256);
        var percent = WeightPlanner.ToPercent(plan.ToDictionary(p => p.Key, p => p.Value.Sum()));
        percent[1].ShouldBeInRange(first - 1, first + 1);
        percent[2].ShouldBeInRange(second - 1, second + 1);
    }

    [Fact]
    public void Plan_RevisionNotNamed_GetsZero()
    {
        var plan = WeightPlanner.Plan(new Dictionary<int, int> { [2] = 100 }, new Dictionary<int, int> { [1] = 3, [2] = 2 });

        plan[1].ShouldBe([0, 0, 0]);
        plan[2].ShouldBe([256, 256]);
    }

    [Fact]
    public void Plan_RevisionWithoutServingInstances_LeavesTheRestProportional()
    {
        var plan = WeightPlanner.Plan(new Dictionary<int, int> { [1] = 60, [2] = 30, [3] = 10 }, new Dictionary<int, int> { [1] = 2, [3] = 1 });

        plan.ContainsKey(2).ShouldBeFalse();
        var percent = WeightPlanner.ToPercent(plan.ToDictionary(p => p.Key, p => p.Value.Sum()));
        percent[1].ShouldBe(86);
        percent[3].ShouldBe(14);
    }

    [Fact]
    public void Plan_UnevenTotal_SpreadsTheRemainderOverTheFirstInstances()
    {
        var plan = WeightPlanner.Plan(new Dictionary<int, int> { [1] = 90, [2] = 10 }, new Dictionary<int, int> { [1] = 3, [2] = 3 });

        plan[1].Max().ShouldBeLessThanOrEqualTo(plan[1].Min() + 1);
        plan[1][0].ShouldBeGreaterThanOrEqualTo(plan[1][2]);
    }

    [Fact]
    public void ToPercent_AllZero_IsZeroForEveryRevision()
    {
        WeightPlanner.ToPercent(new Dictionary<int, int> { [1] = 0, [2] = 0 }).ShouldBe(new Dictionary<int, int> { [1] = 0, [2] = 0 });
    }
}
