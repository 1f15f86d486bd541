using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

/// <summary>SpecLoader.Check: a spec that came as records is written as YAML and read by the validate reader.</summary>
public class SpecCheckTests
{
    public static TheoryData<string> Files => new()
    {
        SpecLoaderParseTests.FullExample,
        """
        service: hello
        platform:
          ecs:
            cluster: prod
            service: hello-svc
            region: us-east-1
            container: web
            desiredCount: 2
            loadBalancer:
              productionListener: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/abc/prod
              testListener: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/abc/test
              targetGroups: [arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1, arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2]
            alarms: [hello-5xx]
            launchType: EC2
            subnets: [subnet-1]
            securityGroups: [sg-1]
            assignPublicIp: true
            cpu: "256"
            memory: "512"
            executionRoleArn: arn:aws:iam::1:role/exec
            taskRoleArn: arn:aws:iam::1:role/task
        task: { image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/hello:1.4.2, port: 8080 }
        strategy:
          blueGreen: { testTraffic: true, bake: 30s, keepPreviousFor: 5m }
        analysis: { errorRate: null, latencyP99: { max: 1.5s } }
        notifications:
          - { url: "https://hooks.example.com/x?a=b: c", format: slack, secretEnv: SLACK_SECRET, events: [rolledBack, failed] }
        """,
        """
        service: phased
        platform: { local: { instances: 4 } }
        task: { image: "./bin/app # not a comment", env: { A: "", B: "line\nbreak", C: "'quoted' \"twice\"" } }
        strategy: { phased: { phases: [25, 50, 100], pauseBetween: 0s } }
        """,
        """
        service: lin
        platform: { local: {} }
        task: { image: builtin:hello }
        strategy: { linear: { stepPercent: 25, interval: 1m30s } }
        """,
        File.ReadAllText(Path.Combine(FindRoot(), "samples", "hello", "backstay.yaml")),
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void Check_ValidSpec_ReadsBackTheSameValues(string yaml)
    {
        var spec = SpecLoader.Parse(yaml, "/somewhere/backstay.yaml");
        var again = SpecLoader.Check(spec, "spec");
        JsonSerializer.Serialize(again, BackstayJson.Options).ShouldBe(JsonSerializer.Serialize(spec, BackstayJson.Options));
        again.BaseDirectory.ShouldBe(spec.BaseDirectory);
    }

    [Fact]
    public void Check_OutOfRangeAndMissingValues_AreReportedWithTheFilesKeysAndWords()
    {
        var spec = SpecLoader.Parse("service: hello\nplatform: { local: {} }\ntask: { image: builtin:hello }\n", "backstay.yaml");
        var broken = spec with
        {
            Service = "Hello World",
            Platform = new PlatformSpec { Local = new LocalPlatformSpec { Instances = -5 } },
            Task = spec.Task with { StartTimeout = TimeSpan.FromSeconds(-1), Env = new Dictionary<string, string> { ["1BAD"] = "x" } },
            Strategy = null!,
            Analysis = spec.Analysis with { MaxErrorRate = 1e-30 },
        };

        var errors = Should.Throw<SpecException>(() => SpecLoader.Check(broken, "spec")).Errors;
        errors.ShouldAllBe(e => e.Line == 0);
        errors.ShouldContain(e => e.Key == "service" && e.Message.StartsWith("must be 1 to 63 lowercase letters", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Key == "platform.local.instances" && e.Message == "must be a whole number from 1 to 64, got -5");
        errors.ShouldContain(e => e.Key == "task.startTimeout");
        errors.ShouldContain(e => e.Key.StartsWith("task.env", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Key == "analysis.errorRate.max");
        errors.Count.ShouldBe(5, string.Join("\n", errors));
    }

    [Fact]
    public void SpecException_ManyProblems_ShowsTheFirst50AndTheCount()
    {
        var errors = Enumerable.Range(1, 1000).Select(i => new SpecError("backstay.yaml", i, 1, "task.env", "bad")).ToList();
        var message = new SpecException(errors).Message;
        message.Split('\n').Length.ShouldBe(51);
        message.ShouldContain("950 more problems (1000 in all");
    }

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Backstay.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Backstay.sln not found above " + AppContext.BaseDirectory);
    }
}
