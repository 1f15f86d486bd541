using System.Diagnostics;
using System.Globalization;

namespace Backstay.Platform.Local.Tests;

public sealed class HelloSampleTests : IAsyncLifetime
{
    private readonly Sandbox _sandbox = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Hello_Configured_AnswersGreetingWithRevisionAndInstanceHeaders()
    {
        var port = await StartAsync(("GREETING", "hi"), ("BACKSTAY_REVISION", "7"), ("BACKSTAY_INSTANCE", "hello-r7-abcd"));

        using var response = await _sandbox.Http.GetAsync(Uri(port, "/")).Within(10);
        var body = await response.Content.ReadAsStringAsync().Within(10);

        ((int)response.StatusCode).ShouldBe(200);
        body.ShouldBe("hi from revision 7\n");
        response.Headers.GetValues("X-Revision").ShouldBe(["7"]);
        response.Headers.GetValues("X-Instance").ShouldBe(["hello-r7-abcd"]);
        using var health = await _sandbox.Http.GetAsync(Uri(port, "/healthz")).Within(10);
        ((int)health.StatusCode).ShouldBe(200);
        (await health.Content.ReadAsStringAsync().Within(10)).ShouldBe("ok");
        health.Headers.GetValues("X-Revision").ShouldBe(["7"]);
    }

    [Fact]
    public async Task Hello_NoGreeting_SaysHello()
    {
        var port = await StartAsync(("BACKSTAY_REVISION", "1"));

        var body = await _sandbox.Http.GetStringAsync(Uri(port, "/")).Within(10);

        body.ShouldBe("hello from revision 1\n");
    }

    [Fact]
    public async Task Hello_ErrorRate_AnswersThatShareWith500()
    {
        var always = await StartAsync(("ERROR_RATE", "1"));
        var half = await StartAsync(("ERROR_RATE", "0.5"));

        var alwaysStatuses = await StatusesAsync(always, 20);
        var halfStatuses = await StatusesAsync(half, 200);

        alwaysStatuses.ShouldAllBe(s => s == 500);
        var errors = halfStatuses.Count(s => s == 500);
        errors.ShouldBeInRange(60, 140);
        (errors + halfStatuses.Count(s => s == 200)).ShouldBe(200);
        using var health = await _sandbox.Http.GetAsync(Uri(always, "/healthz")).Within(10);
        ((int)health.StatusCode).ShouldBe(200);
    }

    [Fact]
    public async Task Hello_LatencyMs_DelaysEachRequest()
    {
        var port = await StartAsync(("LATENCY_MS", "300"));

        var stopwatch = Stopwatch.StartNew();
        var body = await _sandbox.Http.GetStringAsync(Uri(port, "/")).Within(10);

        stopwatch.ElapsedMilliseconds.ShouldBeGreaterThanOrEqualTo(290);
        body.ShouldContain("from revision");
    }

    [Fact]
    public async Task Hello_FailHealth_HealthzAnswers503()
    {
        var port = await StartAsync(("FAIL_HEALTH", "true"));

        using var health = await _sandbox.Http.GetAsync(Uri(port, "/healthz")).Within(10);
        using var root = await _sandbox.Http.GetAsync(Uri(port, "/")).Within(10);

        ((int)health.StatusCode).ShouldBe(503);
        ((int)root.StatusCode).ShouldBe(200);
    }

    [Fact]
    public async Task Hello_CrashAtStart_ExitsWithOneAndSaysWhy()
    {
        var hello = _sandbox.StartHello(("PORT", Sandbox.FreePort().ToString(CultureInfo.InvariantCulture)), ("CRASH_AT_START", "true"));

        var (exitCode, output) = await hello.WaitForExitAsync(30);

        exitCode.ShouldBe(1);
        output.ShouldContain("CRASH_AT_START");
    }

    [Fact]
    public async Task Hello_CrashAfterMs_ServesThenExitsWithOne()
    {
        var port = Sandbox.FreePort();
        var hello = _sandbox.StartHello(("PORT", port.ToString(CultureInfo.InvariantCulture)), ("CRASH_AFTER_MS", "1500"));
        await WaitHealthyAsync(port);

        var (exitCode, output) = await hello.WaitForExitAsync(30);

        exitCode.ShouldBe(1);
        output.ShouldContain("CRASH_AFTER_MS");
    }

    [Theory]
    [InlineData("PORT", "")]
    [InlineData("PORT", "abc")]
    [InlineData("PORT", "70000")]
    [InlineData("ERROR_RATE", "1.5")]
    [InlineData("ERROR_RATE", "lots")]
    [InlineData("LATENCY_MS", "-1")]
    [InlineData("CRASH_AT_START", "maybe")]
    [InlineData("FAIL_HEALTH", "2")]
    [InlineData("CRASH_AFTER_MS", "soon")]
    public async Task Hello_BadKnob_ExitsWithTwoNamingTheVariable(string name, string value)
    {
        var env = new List<(string, string)> { ("PORT", Sandbox.FreePort().ToString(CultureInfo.InvariantCulture)) };
        env.RemoveAll(e => e.Item1 == name);
        if (value.Length > 0)
        {
            env.Add((name, value));
        }

        var hello = _sandbox.StartHello([.. env]);
        var (exitCode, output) = await hello.WaitForExitAsync(30);

        exitCode.ShouldBe(2);
        output.ShouldContain(name);
    }

    private async Task<int> StartAsync(params (string Name, string Value)[] env)
    {
        var port = Sandbox.FreePort();
        _sandbox.StartHello([("PORT", port.ToString(CultureInfo.InvariantCulture)), .. env]);
        await WaitHealthyAsync(port);
        return port;
    }

    private async Task WaitHealthyAsync(int port) =>
        await Sandbox.WaitUntilAsync(async () => (await _sandbox.GetAsync(port, "/healthz")).Status is 200 or 503, 30, $"hello on port {port}");

    private async Task<List<int>> StatusesAsync(int port, int count)
    {
        var statuses = new List<int>();
        for (var i = 0; i < count; i++)
        {
            statuses.Add((await _sandbox.GetAsync(port)).Status);
        }

        return statuses;
    }

    private static Uri Uri(int port, string path) => new($"http://{Sandbox.Address(port)}{path}");
}
