using System.Diagnostics;
using System.Text.Json;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// The observable result: the real `backstay` command, in its own process, pointed at moto by
/// AWS_ENDPOINT_URL, deploys an ECS service with no controller running, and rolls a canary back on an alarm.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class CliAgainstMotoTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "backstay-ecs-cli-" + Guid.NewGuid().ToString("N")[..8]);

    public CliAgainstMotoTests(MotoServer moto)
    {
        ArgumentNullException.ThrowIfNull(moto);
        Directory.CreateDirectory(_directory);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Deploy_FromTheCli_CreatesTheServiceThenBlueGreenMovesAllWeightToTheOtherTargetGroup()
    {
        using var world = await MotoWorld.CreateAsync("cli");
        await using var agent = new MotoTaskSetAgent(world);
        WriteSpec(world, "blueGreen: { testTraffic: true, bake: 1s, keepPreviousFor: 1s }");

        var first = await RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json");

        first.ExitCode.ShouldBe(0, first.Output);
        var report = JsonDocument.Parse(first.Output).RootElement;
        report.GetProperty("service").GetString().ShouldBe(world.Service);
        report.GetProperty("outcome").GetString().ShouldBe("Succeeded");
        report.GetProperty("revision").GetInt32().ShouldBe(1);
        report.GetProperty("id").GetString()!.ShouldStartWith("d-");
        var before = await world.ListenerWeightsAsync();
        var serving = before.Single(w => w.Value == 100).Key;

        var second = await RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");

        second.ExitCode.ShouldBe(0, second.Output);
        var after = await world.ListenerWeightsAsync();
        after[serving].ShouldBe(0);
        after.Single(w => w.Key != serving).Value.ShouldBe(100);
    }

    [Fact]
    public async Task Deploy_CanaryWhoseAlarmFiresMidway_EndsRolledBackWithAllWeightOnTheStableTargetGroup()
    {
        using var world = await MotoWorld.CreateAsync("clicanary");
        await using var agent = new MotoTaskSetAgent(world);
        WriteSpec(world, "canary: { steps: [ { setWeight: 20 }, { pause: { duration: 5m } }, { setWeight: 100 } ] }");
        (await RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        var stable = (await world.ListenerWeightsAsync()).Single(w => w.Value == 100).Key;

        var canary = StartCli("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");
        var output = canary.StandardOutput.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while ((await world.ListenerWeightsAsync())[stable] != 80 && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(250);
        }

        (await world.ListenerWeightsAsync())[stable].ShouldBe(80);
        await world.SetAlarmStateAsync("ALARM");
        await canary.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        canary.ExitCode.ShouldBe(3, await output);
        var report = JsonDocument.Parse(await output).RootElement;
        report.GetProperty("outcome").GetString().ShouldBe("RolledBack");
        report.GetProperty("reason").GetString()!.ShouldContain(world.AlarmName);
        (await world.ListenerWeightsAsync())[stable].ShouldBe(100);
    }

    private void WriteSpec(MotoWorld world, string strategy) => File.WriteAllText(Path.Combine(_directory, "backstay.yaml"), $$"""
        service: {{world.Service}}
        platform:
          ecs:
            cluster: {{world.Cluster}}
            region: {{MotoServer.Region}}
            container: web
            desiredCount: 2
            launchType: EC2
            loadBalancer: { productionListener: "{{world.ProductionListener}}", testListener: "{{world.TestListener}}", targetGroups: ["{{world.Blue}}", "{{world.Green}}"] }
            alarms: [{{world.AlarmName}}]
        task:
          image: public.ecr.aws/nginx/nginx:1.27
          port: 8080
          startTimeout: 30s
        strategy:
          {{strategy}}
        analysis: { window: 2s, minRequests: 20, interval: 250ms }
        """);

    private async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        using var process = StartCli(args);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
        return (process.ExitCode, await output + await error);
    }

    private Process StartCli(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = _directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "backstay.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NO_COLOR"] = "1";
        return Process.Start(info)!;
    }
}
