using System.Diagnostics;
using Backstay.Platform.Ecs.Tests.Moto;

namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// The observable result: the real `backstay` command, in its own process, pointed at moto by
/// AWS_ENDPOINT_URL, deploys an ECS service with no controller running, and rolls a canary back on an alarm.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class CliAgainstMotoTests : IDisposable
{
    private readonly EcsCli _cli = new();

    public CliAgainstMotoTests(MotoServer moto)
    {
        ArgumentNullException.ThrowIfNull(moto);
    }

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Deploy_FromTheCli_CreatesTheServiceThenBlueGreenMovesAllWeightToTheOtherTargetGroup()
    {
        using var world = await MotoWorld.CreateAsync("cli");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, "blueGreen: { testTraffic: true, bake: 1s, keepPreviousFor: 0s }");

        var first = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json");

        first.ExitCode.ShouldBe(0, first.ToString());
        first.Json.GetProperty("service").GetString().ShouldBe(world.Service);
        first.Outcome.ShouldBe("Succeeded");
        first.Json.GetProperty("revision").GetInt32().ShouldBe(1);
        first.Id.ShouldStartWith("d-");
        var before = await world.ListenerWeightsAsync();
        var serving = before.Single(w => w.Value == 100).Key;

        var second = await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");

        second.ExitCode.ShouldBe(0, second.ToString());
        var calls = second.Json.GetProperty("apiCalls");
        var byOperation = calls.GetProperty("byOperation").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        byOperation["ecs:CreateTaskSet"].ShouldBe(1, "one replacement task set per blue/green deployment");
        byOperation.ShouldContainKey("elasticloadbalancing:ModifyListener");
        calls.GetProperty("total").GetInt32().ShouldBe(byOperation.Values.Sum());
        var after = await world.ListenerWeightsAsync();
        after[serving].ShouldBe(0);
        after.Single(w => w.Key != serving).Value.ShouldBe(100);
    }

    [Fact]
    public async Task Deploy_CanaryWhoseAlarmFiresMidway_EndsRolledBackWithAllWeightOnTheStableTargetGroup()
    {
        using var world = await MotoWorld.CreateAsync("clicanary");
        await using var agent = new MotoTaskSetAgent(world);
        _cli.WriteSpec(world, "canary: { steps: [ { setWeight: 20 }, { pause: { duration: 5m } }, { setWeight: 100 } ] }");
        (await _cli.RunAsync("deploy", "--image", "public.ecr.aws/nginx/nginx:1.27", "--output", "json")).ExitCode.ShouldBe(0);
        var stable = (await world.ListenerWeightsAsync()).Single(w => w.Value == 100).Key;

        using var canary = _cli.Start("deploy", "--image", "public.ecr.aws/nginx/nginx:1.28", "--output", "json");
        var clock = Stopwatch.StartNew();
        while ((await world.ListenerWeightsAsync())[stable] != 80 && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(250);
        }

        (await world.ListenerWeightsAsync())[stable].ShouldBe(80);
        await world.SetAlarmStateAsync("ALARM");
        var result = await EcsCli.WaitAsync(canary);

        result.ExitCode.ShouldBe(3, result.ToString());
        result.Outcome.ShouldBe("RolledBack");
        result.Json.GetProperty("reason").GetString()!.ShouldContain(world.AlarmName);
        (await world.ListenerWeightsAsync())[stable].ShouldBe(100);
        // An alarm has no first failed request: time to safety runs from the failure verdict, on ECS as locally.
        result.Json.GetProperty("timeToSafetyMs").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Number, result.ToString());
        result.Json.GetProperty("safeAt").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.String);
    }
}
