using System.Globalization;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>
/// Stands in for the part of ECS that moto does not do: registering a task set's tasks in its target group. moto
/// neither starts task-set tasks on a scale change nor registers any task with a load balancer, so without this no
/// target ever appears and nothing could become healthy. Every 200 ms it makes each target group hold as many
/// (IP) targets as its task set's computed count, and none for a group no task set uses. moto reports every
/// registered target as healthy; so this proves Backstay's calls and its reading of target health, not ECS
/// scheduling, task start-up or health checks (those are tested on recorded AWS answers). One agent can serve several
/// worlds in one loop, one world after the other (the AWS-calls benchmark runs up to 100), so moto is not flooded.
/// </summary>
public sealed class MotoTaskSetAgent : IAsyncDisposable
{
    private readonly IReadOnlyList<MotoWorld> _worlds;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public MotoTaskSetAgent(params MotoWorld[] worlds)
    {
        _worlds = worlds;
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                foreach (var world in _worlds)
                {
                    try
                    {
                        await ReconcileAsync(world, cancellationToken).WaitAsync(MotoWorld.CallTimeout, cancellationToken);
                    }
                    catch (Exception ex) when (ex is Core.Ports.PlatformException or TimeoutException)
                    {
                        // Tried again next round.
                    }
                }

                await Task.Delay(200, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task ReconcileAsync(MotoWorld world, CancellationToken cancellationToken)
    {
        var service = await world.DescribeServiceAsync();
        var want = new Dictionary<string, int>(StringComparer.Ordinal) { [world.Blue] = 0, [world.Green] = 0 };
        if (service is { Status: "ACTIVE" })
        {
            foreach (var set in service.TaskSets ?? [])
            {
                if (set.LoadBalancers?.FirstOrDefault()?.TargetGroupArn is { } tg && want.ContainsKey(tg))
                {
                    want[tg] = set.ComputedDesiredCount ?? TaskSetMath.Count(set.Scale?.Value ?? 0, service.DesiredCount);
                }
            }
        }

        foreach (var (tg, count) in want)
        {
            var registered = (await world.Aws.Elb.DescribeTargetHealthAsync(tg, cancellationToken)).Select(t => t.Target.Id).ToList();
            var subnet = tg == world.Blue ? 1 : 2;
            var wanted = Enumerable.Range(10, count).Select(i => $"10.0.{subnet}.{i.ToString(CultureInfo.InvariantCulture)}").ToList();
            var add = wanted.Except(registered).ToList();
            var remove = registered.Except(wanted).ToList();
            if (add.Count > 0)
            {
                await world.Aws.Elb.Raw.CallAsync("RegisterTargets", Targets(tg, add), cancellationToken);
            }

            if (remove.Count > 0)
            {
                await world.Aws.Elb.Raw.CallAsync("DeregisterTargets", Targets(tg, remove), cancellationToken);
            }
        }
    }

    private static List<KeyValuePair<string, string>> Targets(string tg, List<string> ips)
    {
        var parameters = new List<KeyValuePair<string, string>> { new("TargetGroupArn", tg) };
        for (var i = 0; i < ips.Count; i++)
        {
            parameters.Add(new($"Targets.member.{i + 1}.Id", ips[i]));
            parameters.Add(new($"Targets.member.{i + 1}.Port", "8080"));
        }

        return parameters;
    }
}
