using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Bench.Aws;

/// <summary>The strategies measured, as backstay.yaml's `strategy:` value, with short timings for moto.</summary>
internal static class Strategies
{
    public static readonly IReadOnlyDictionary<string, string> Yaml = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["blueGreen"] = "blueGreen: { testTraffic: true, bake: 4s, keepPreviousFor: 2s }",
        ["canary"] = "canary: { steps: [ { setWeight: 20 }, { pause: { duration: 3s } }, { setWeight: 50 }, { pause: { duration: 3s } }, { setWeight: 100 } ] }",
        ["linear"] = "linear: { stepPercent: 25, interval: 2s }",
        ["phased"] = "phased: { phases: [50, 100], pauseBetween: 3s }",
        ["rolling"] = "rolling: { batch: 1 }",
    };

    /// <summary>Rolling runs through the ECS deployment controller (the only way Backstay rolls on ECS).</summary>
    public static bool NativeRolling(string strategy) => strategy == "rolling";
}

/// <summary>
/// One ECS service to deploy: a MotoWorld (cluster, ALB, two target groups, alarm; set-up calls signed with the
/// "testing" key, never counted as Backstay's), a private ECR repository with tagged images so that every revision is
/// pinned to a digest as in production, and a work directory whose .backstay/ is the service's state.
/// </summary>
internal sealed class BenchService : IDisposable
{
    private BenchService(MotoWorld world, string workDirectory)
    {
        World = world;
        WorkDirectory = workDirectory;
    }

    public MotoWorld World { get; }

    public string WorkDirectory { get; }

    public string Service => World.Service;

    /// <summary>The image of tag vN in the world's ECR repository (account 123456789012, moto's default).</summary>
    public string Image(int n) => $"123456789012.dkr.ecr.{MotoServer.Region}.amazonaws.com/{World.Name}:v{n.ToString(CultureInfo.InvariantCulture)}";

    public static async Task<BenchService> CreateAsync(string prefix, string workRoot, int images)
    {
        var world = await MotoWorld.CreateAsync(prefix);
        try
        {
            var none = CancellationToken.None;
            await world.Aws.Ecr.Raw.CallRawAsync("CreateRepository", JsonSerializer.Serialize(new { repositoryName = world.Name }), none).WaitAsync(MotoWorld.CallTimeout);
            for (var n = 1; n <= images; n++)
            {
                // A distinct manifest per tag, so each tag has its own digest.
                var manifest = JsonSerializer.Serialize(new
                {
                    schemaVersion = 2,
                    mediaType = "application/vnd.docker.distribution.manifest.v2+json",
                    config = new { mediaType = "application/vnd.docker.container.image.v1+json", size = 7000 + n, digest = $"sha256:{n:x64}" },
                    layers = Array.Empty<object>(),
                });
                await world.Aws.Ecr.Raw.CallRawAsync("PutImage", JsonSerializer.Serialize(new { repositoryName = world.Name, imageManifest = manifest, imageTag = $"v{n}" }), none)
                    .WaitAsync(MotoWorld.CallTimeout);
            }

            var dir = Path.Combine(workRoot, world.Name);
            Directory.CreateDirectory(dir);
            return new BenchService(world, dir);
        }
        catch
        {
            world.Dispose();
            throw;
        }
    }

    /// <summary>backstay.yaml for this service: two tasks per revision on the EC2 launch type (what moto can place), the world's alarm.</summary>
    public void WriteSpec(string strategy, string startTimeout = "30s")
    {
        var native = Strategies.NativeRolling(strategy);
        var groups = native ? $"[\"{World.Blue}\"]" : $"[\"{World.Blue}\", \"{World.Green}\"]";
        var test = native ? "" : $", testListener: \"{World.TestListener}\"";
        File.WriteAllText(Path.Combine(WorkDirectory, "backstay.yaml"), $$"""
            service: {{Service}}
            platform:
              ecs:
                cluster: {{World.Cluster}}
                region: {{MotoServer.Region}}
                container: web
                desiredCount: 2
                launchType: EC2
            {{(native ? "    deploymentController: ECS\n" : "")}}    loadBalancer: { productionListener: "{{World.ProductionListener}}"{{test}}, targetGroups: {{groups}} }
                alarms: [{{World.AlarmName}}]
            task:
              image: {{Image(1)}}
              port: 8080
              startTimeout: {{startTimeout}}
            strategy:
              {{Strategies.Yaml[strategy]}}
            analysis: { window: 2s, minRequests: 20, interval: 250ms }

            """);
    }

    /// <summary>
    /// Waits until traffic has left the stable target group in part (or <paramref name="atMost"/> passed), then sets
    /// the alarm to ALARM as the tests do; returns how long after the start it was set and the weight seen.
    /// </summary>
    public async Task<string> TripAlarmMidwayAsync(string stableGroup, Process deploy, TimeSpan atMost)
    {
        var watch = Stopwatch.StartNew();
        var note = $"set after {atMost.TotalSeconds:0} s (weights did not move)";
        while (watch.Elapsed < atMost && !deploy.HasExited)
        {
            try
            {
                var weights = await World.ListenerWeightsAsync();
                if (weights.GetValueOrDefault(stableGroup, 100) < 100)
                {
                    note = $"set at {watch.Elapsed.TotalSeconds:0.0} s, new revision at {100 - weights.GetValueOrDefault(stableGroup, 100)}%";
                    break;
                }
            }
            catch (Exception ex) when (ex is Core.Ports.PlatformException or TimeoutException)
            {
            }

            await Task.Delay(250);
        }

        await World.SetAlarmStateAsync("ALARM");
        return note;
    }

    /// <summary>The target group with all production weight now (the stable one before a deployment).</summary>
    public async Task<string> ServingGroupAsync() =>
        (await World.ListenerWeightsAsync()).OrderByDescending(w => w.Value).First().Key;

    public void Dispose() => World.Dispose();
}
