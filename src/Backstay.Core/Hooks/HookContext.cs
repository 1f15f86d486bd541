using System.Text.Json.Serialization;

namespace Backstay.Core.Hooks;

/// <summary>Lifecycle stages (CodeDeploy's names) at which hooks run, in the order a deployment passes them.</summary>
public static class Stages
{
    public const string BeforeInstall = nameof(BeforeInstall);
    public const string Install = nameof(Install);
    public const string AfterInstall = nameof(AfterInstall);
    public const string AllowTestTraffic = nameof(AllowTestTraffic);
    public const string AfterAllowTestTraffic = nameof(AfterAllowTestTraffic);
    public const string BeforeAllowTraffic = nameof(BeforeAllowTraffic);
    public const string AllowTraffic = nameof(AllowTraffic);
    public const string AfterAllowTraffic = nameof(AfterAllowTraffic);
    public const string Bake = nameof(Bake);
    public const string Cleanup = nameof(Cleanup);

    public static IReadOnlyList<string> All { get; } =
        [BeforeInstall, Install, AfterInstall, AllowTestTraffic, AfterAllowTestTraffic, BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic, Bake, Cleanup];

    /// <summary>Stages whose hooks run again on the way back during a rollback, as ECS does.</summary>
    public static IReadOnlyList<string> Traffic { get; } = [BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic];
}

/// <summary>What a hook is told about the deployment it runs in; sent as JSON to http hooks and as environment to exec hooks.</summary>
public sealed record HookContext
{
    public required string DeploymentId { get; init; }
    public required string HookId { get; init; }
    public required string Service { get; init; }
    public required string Stage { get; init; }
    public int? StableRevision { get; init; }
    public int TargetRevision { get; init; }
    public bool Rollback { get; init; }

    [JsonPropertyName("testListenerUrl")]
    public string? TestListenerUrl { get; init; }

    public IReadOnlyDictionary<string, string> ToEnvironment() => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["BACKSTAY_DEPLOYMENT_ID"] = DeploymentId,
        ["BACKSTAY_HOOK_ID"] = HookId,
        ["BACKSTAY_SERVICE"] = Service,
        ["BACKSTAY_STAGE"] = Stage,
        ["BACKSTAY_STABLE_REVISION"] = StableRevision?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
        ["BACKSTAY_TARGET_REVISION"] = TargetRevision.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["BACKSTAY_ROLLBACK"] = Rollback ? "true" : "false",
        ["BACKSTAY_TEST_URL"] = TestListenerUrl ?? "",
    };
}

/// <summary>How a hook run ended.</summary>
public sealed record HookOutcome(bool Passed, bool TimedOut, string Output);
