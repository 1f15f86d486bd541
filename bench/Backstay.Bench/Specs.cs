namespace Backstay.Bench;

/// <summary>The backstay.yaml files the benchmark deploys. Health checks are fast (as in `backstay demo`) so runs are short; analysis is at the product defaults unless a scenario says otherwise.</summary>
internal static class Specs
{
    public static readonly string[] Strategies = ["canary", "linear", "blueGreen", "rolling"];

    /// <summary>Health check of the scenario services: fast, so deployments take seconds.</summary>
    public const string FastHealthCheck = "{ path: /healthz, interval: 250ms, timeout: 200ms, healthyThreshold: 1, unhealthyThreshold: 2 }";

    public static string Service(string name, int production, int? test, int instances, string strategy, string? analysis,
        string image = "builtin:hello", string healthCheck = FastHealthCheck) =>
        $$"""
        # Written by bench/ (backstay-bench); deployed through the real CLI.
        service: {{name}}
        platform:
          local:
            instances: {{instances}}
            listeners: { production: 127.0.0.1:{{production}}{{(test is { } t ? $", test: 127.0.0.1:{t}" : "")}} }
        task:
          image: {{image}}
          port: 8080
          env: { GREETING: bench }
          startTimeout: 30s
          healthCheck: {{healthCheck}}
        strategy:
        {{strategy}}
        {{analysis ?? "# analysis: product defaults (window 10s, minRequests 20, errorRate max 5%, consecutiveFailures 2, interval 100ms)"}}
        rollback: { automatic: true }
        retention: { keepPrevious: 3 }

        """;

    /// <summary>Strategy block for the time-to-safety runs: the analysis window (and step length) is the variable.</summary>
    public static string BadStrategy(string strategy, string window) => strategy switch
    {
        "canary" => $$"""
              canary:
                steps:
                  - setWeight: 10
                  - analysis: { window: {{window}} }
                  - setWeight: 50
                  - analysis: { window: {{window}} }
                  - setWeight: 100
            """,
        "linear" => $"  linear: {{ stepPercent: 10, interval: {window} }}",
        "blueGreen" => $"  blueGreen: {{ testTraffic: true, bake: {window}, keepPreviousFor: 2s }}",
        "rolling" => "  rolling: { batch: 1, maxUnavailable: 0 }",
        _ => throw new ArgumentOutOfRangeException(nameof(strategy)),
    };

    /// <summary>Strategy block for good deployments: short steps, so a run takes seconds, with every traffic move and scale-down of a real deployment.</summary>
    public static string GoodStrategy(string strategy) => strategy switch
    {
        "canary" => """
              canary:
                steps:
                  - setWeight: 10
                  - analysis: { window: 3s }
                  - setWeight: 50
                  - analysis: { window: 3s }
                  - setWeight: 100
            """,
        "linear" => "  linear: { stepPercent: 25, interval: 2s }",
        "blueGreen" => "  blueGreen: { testTraffic: true, bake: 3s, keepPreviousFor: 2s }",
        "rolling" => "  rolling: { batch: 1, maxUnavailable: 0 }",
        _ => throw new ArgumentOutOfRangeException(nameof(strategy)),
    };

    /// <summary>The README's canary with analysis steps at the defaults (`analysis: {}` takes the top-level values, which are the defaults).</summary>
    public const string DefaultsCanary = """
          canary:
            steps:
              - setWeight: 10
              - analysis: {}
              - setWeight: 50
              - analysis: {}
              - setWeight: 100
        """;

    /// <summary>A canary that waits at 10% until continued or rolled back: a deployment that stays in progress.</summary>
    public const string PausedCanary = """
          canary:
            steps:
              - setWeight: 10
              - pause: {}
              - setWeight: 100
        """;

    public const string Rolling = "  rolling: {}";
}
