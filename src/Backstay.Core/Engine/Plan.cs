using System.Text.Json;
using System.Text.Json.Serialization;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>Which revision of a deployment a step acts on.</summary>
public enum Role
{
    Target,
    Stable,
}

/// <summary>One idempotent action of a deployment's plan.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "action")]
[JsonDerivedType(typeof(ScaleAction), "scale")]
[JsonDerivedType(typeof(WeightAction), "weight")]
[JsonDerivedType(typeof(TestTrafficAction), "testTraffic")]
[JsonDerivedType(typeof(PauseAction), "pause")]
[JsonDerivedType(typeof(AnalysisAction), "analysis")]
[JsonDerivedType(typeof(WaitAction), "wait")]
[JsonDerivedType(typeof(HookAction), "hook")]
[JsonDerivedType(typeof(NativeRolloutAction), "nativeRollout")]
public abstract record PlanAction
{
    /// <summary>Short text for progress output and the timeline.</summary>
    public abstract string Describe();

    /// <summary>
    /// The same with the revisions named: from the revision serving before to the one this deployment brings (in a
    /// rollback, from the failed revision to the restored one), so that no reader has to know what "stable" means there.
    /// </summary>
    public virtual string Describe(int to, int? from) => Describe();
}

/// <summary>Run Count instances of a role's revision, and when WaitHealthy, wait until that many are healthy.</summary>
public sealed record ScaleAction(Role Role, int Count, bool WaitHealthy) : PlanAction
{
    public override string Describe() => $"scale {Role.ToString().ToLowerInvariant()} to {Count}";

    public override string Describe(int to, int? from) =>
        Role == Role.Target ? $"scale revision {to} to {Count}" : from is { } f ? $"scale revision {f} to {Count}" : Describe();
}

/// <summary>Give the target this share of production traffic and the stable the rest, in one change.</summary>
public sealed record WeightAction(int TargetWeight) : PlanAction
{
    public override string Describe() => $"set weight {TargetWeight}%";

    public override string Describe(int to, int? from) => from is { } f && f != to
        ? $"production traffic: revision {to} {TargetWeight}%, revision {f} {100 - TargetWeight}%"
        : $"production traffic: revision {to} {TargetWeight}%";
}

/// <summary>Route the test listener to the target (true) or the stable revision (false).</summary>
public sealed record TestTrafficAction(bool ToTarget) : PlanAction
{
    public override string Describe() => ToTarget ? "test traffic to new revision" : "test traffic to stable revision";

    public override string Describe(int to, int? from) => $"test traffic to revision {(ToTarget || from is null ? to : from)}";
}

/// <summary>Wait for a duration, or until continued when Duration is null.</summary>
public sealed record PauseAction(TimeSpan? Duration) : PlanAction
{
    public override string Describe() => Duration is { } d ? $"pause {Durations.Format(d)}" : "pause until continued";
}

/// <summary>Judge the target over a window before going on.</summary>
public sealed record AnalysisAction(AnalysisSpec Analysis) : PlanAction
{
    public override string Describe() => $"analysis over {Durations.Format(Analysis.Window)}";
}

/// <summary>Wait a fixed time while background analysis watches (bake, keep previous warm).</summary>
public sealed record WaitAction(TimeSpan Duration, string Reason) : PlanAction
{
    /// <summary>The reason of blue/green's keep-previous wait, where the deployment succeeds and its warm window opens.</summary>
    public const string KeepPreviousWarm = "keep previous warm";

    public override string Describe() => $"{Reason} {Durations.Format(Duration)}";
}

/// <summary>Run the hooks of a lifecycle stage; during a rollback their failure is recorded but does not stop it.</summary>
public sealed record HookAction(string Stage, bool DuringRollback = false) : PlanAction
{
    public override string Describe() => $"{Stage} hooks" + (DuringRollback ? " (rollback)" : "");
}

/// <summary>Let the platform roll the service out to the target revision itself (ECS's rolling controller) and follow it to its end.</summary>
public sealed record NativeRolloutAction : PlanAction
{
    public override string Describe() => "rolling update by the platform";
}

/// <summary>What a deployment will do, frozen when it is created so a resumed deployment does the same.</summary>
public sealed record DeploymentPlan
{
    public required ServiceSpec Spec { get; init; }
    public required IReadOnlyList<PlanAction> Actions { get; init; }

    /// <summary>Instances the target revision runs when it serves alone.</summary>
    public int DesiredCount { get; init; }

    /// <summary>Settings of the background analysis that watches the target while it takes traffic.</summary>
    public AnalysisSpec Analysis { get; set; } = new();

    public bool AutomaticRollback { get; set; } = true;

    private static JsonSerializerOptions JsonOptions => BackstayJson.Options;

    public string ToJson() => BackstayJson.Serialize(this, JsonOptions);

    public static DeploymentPlan FromJson(string json) =>
        BackstayJson.Deserialize<DeploymentPlan>(json, JsonOptions)
        ?? throw new InvalidOperationException("The stored deployment plan is empty.");
}

/// <summary>Formats durations the way specs write them.</summary>
public static class Durations
{
    public static string Format(TimeSpan d) =>
        d.TotalMilliseconds < 1000 ? $"{d.TotalMilliseconds:0}ms"
        : d.TotalSeconds < 60 ? $"{d.TotalSeconds:0.#}s"
        : d.TotalMinutes < 60 ? $"{d.TotalMinutes:0.#}m"
        : $"{d.TotalHours:0.#}h";

    /// <summary>Reads a duration the way specs write it ("500ms", "10s", "5m", "1h").</summary>
    public static bool TryParse(string text, out TimeSpan value) => Spec.SpecValues.TryParseDuration(text, out value);
}
