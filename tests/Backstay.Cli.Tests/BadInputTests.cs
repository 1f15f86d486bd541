namespace Backstay.Cli.Tests;

public sealed class BadInputTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Validate_MalformedSpec_NamesFileLineAndKeyAndExits2()
    {
        var path = _cli.WriteFile("backstay.yaml", """
            service: hello
            platform:
              local: { instances: 3 }
            task:
              image: builtin:hello
            strategy:
              canary:
                steps:
                  - setWeight: 50
                  - setWeight: abc
            """);

        var result = await _cli.RunAsync("validate", "-f", path);

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("backstay.yaml:10:");
        result.Stderr.ShouldContain("strategy.canary.steps[1].setWeight");
    }

    [Fact]
    public async Task Validate_EcsRollingWithoutLoadBalancer_NamesTheKeyAndExits2()
    {
        var path = _cli.WriteFile("backstay.yaml", """
            service: hello
            platform:
              ecs: { cluster: prod, region: us-east-1 }
            task:
              image: public.ecr.aws/nginx/nginx:1.27
            strategy:
              rolling: { batch: 1 }
            """);

        var result = await _cli.RunAsync("validate", "-f", path);

        result.ExitCode.ShouldBe(2, result.Stdout + result.Stderr);
        result.Stderr.ShouldContain("backstay.yaml:3:");
        result.Stderr.ShouldContain("platform.ecs.loadBalancer");
        result.Stderr.ShouldContain("is required for the rolling strategy on ECS");
    }

    [Fact]
    public async Task Validate_ValidSpec_Exits0()
    {
        var path = _cli.WriteFile("backstay.yaml", """
            service: hello
            platform:
              local: { instances: 2 }
            task:
              image: builtin:hello
            """);

        var result = await _cli.RunAsync("validate", "-f", path, "--output", "json");

        result.ExitCode.ShouldBe(0, result.Stderr);
        result.Stdout.ShouldContain("\"valid\": true");
    }

    [Fact]
    public async Task Import_SpecOfALocalService_SaysImportReadsEcsAndExits2()
    {
        var path = _cli.WriteFile("backstay.yaml", """
            service: hello
            platform:
              local: { instances: 2 }
            task:
              image: builtin:hello
            """);

        var result = await _cli.RunAsync("import", "-f", path);

        result.ExitCode.ShouldBe(2, result.Stderr);
        result.Stderr.ShouldContain("backstay.yaml: platform.ecs is missing");
    }

    [Fact]
    public async Task Deploy_MissingSpecFile_SaysHowToCreateOneAndExits2()
    {
        var result = await _cli.RunAsync("deploy");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("backstay.yaml");
    }

    [Fact]
    public async Task Deploy_WithoutServe_ExplainsAndRecordsNothing()
    {
        _cli.WriteFile("backstay.yaml", """
            service: hello
            platform:
              local: { instances: 1 }
            task:
              image: builtin:hello
            """);

        var result = await _cli.RunAsync("deploy");

        result.ExitCode.ShouldBe(8);
        result.Stderr.ShouldContain("backstay serve");
        var status = await _cli.RunAsync("status", "--output", "json");
        status.Stdout.ShouldContain("\"services\": []");
    }

    [Fact]
    public async Task Deploy_BadEnvOverride_NamesTheArgument()
    {
        _cli.WriteFile("backstay.yaml", """
            service: hello
            platform:
              local: { instances: 1 }
            task:
              image: builtin:hello
            """);

        var result = await _cli.RunAsync("deploy", "--env", "NOEQUALS");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("--env 'NOEQUALS'");
    }

    [Fact]
    public async Task History_UnknownService_ListsKnownAndExits2()
    {
        var result = await _cli.RunAsync("history", "nosuch");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("Unknown service 'nosuch'");
    }

    [Fact]
    public async Task Continue_UnknownDeploymentInAnEmptyStateDirectory_Exits2PointingAtImport()
    {
        var result = await _cli.RunAsync("continue", "d-NOSUCH123");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("has no record of deployment 'd-NOSUCH123'");
        result.Stderr.ShouldContain("backstay import");
    }

    [Fact]
    public async Task Rollback_UnknownServiceInAnEmptyStateDirectory_Exits2PointingAtImport()
    {
        var result = await _cli.RunAsync("rollback", "nosuch");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("has no record of service 'nosuch'");
        result.Stderr.ShouldContain("backstay import");
    }

    [Fact]
    public async Task UnknownOption_Exits2WithUsageHint()
    {
        var result = await _cli.RunAsync("deploy", "--frobnicate");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("--frobnicate");
    }

    [Fact]
    public async Task Version_PrintsVersion()
    {
        var result = await _cli.RunAsync("--version");

        result.ExitCode.ShouldBe(0);
        result.Stdout.ShouldContain("0.1.0");
    }

    [Fact]
    public async Task Load_BadUrl_NamesItAndExits2()
    {
        var result = await _cli.RunAsync("load", "not a url", "--duration", "1s");

        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("url 'not a url'");
    }

    [Fact]
    public async Task Load_RealListener_CountsEveryResponse()
    {
        using var listener = new System.Net.HttpListener();
        var port = CliRunner.FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var served = 0;
        var serving = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                try
                {
                    var context = await listener.GetContextAsync();
                    Interlocked.Increment(ref served);
                    context.Response.Headers["X-Revision"] = "7";
                    context.Response.Close();
                }
                catch (Exception ex) when (ex is System.Net.HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
            }
        });

        var result = await _cli.RunAsync("load", $"http://127.0.0.1:{port}/", "--rate", "50", "--duration", "2s", "-o", "json");
        listener.Stop();
        await serving.WaitAsync(TimeSpan.FromSeconds(5));

        result.ExitCode.ShouldBe(0, result.Stderr);
        var report = System.Text.Json.JsonDocument.Parse(result.Stdout).RootElement;
        report.GetProperty("requests").GetInt64().ShouldBe(served);
        report.GetProperty("requests").GetInt64().ShouldBeGreaterThan(50);
        report.GetProperty("failed").GetInt64().ShouldBe(0);
    }
}
