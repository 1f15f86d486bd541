using System.Globalization;
using System.Text;
using Backstay.Core.Model;

namespace Backstay.Core.Ports;

/// <summary>
/// Where a service's latest deployment stands, in one line a platform can keep next to the service (on ECS, a tag on
/// the service): enough for a process with an empty store to record the deployment and carry on with it (`backstay
/// import`). Letters, digits, spaces and = : . - only, under 256 characters, so it fits an AWS tag value.
/// </summary>
public sealed record DeploymentMark
{
    public required string Id { get; init; }
    public DeploymentKind Kind { get; init; }
    public DeploymentState State { get; init; }
    public required string Strategy { get; init; }
    public int? StableRevision { get; init; }
    public int TargetRevision { get; init; }
    public int CurrentStep { get; init; }
    public StepPhase StepPhase { get; init; }
    public int TotalSteps { get; init; }
    public int TargetWeight { get; init; }
    public int StableCountBefore { get; init; }
    public bool TestTrafficOnTarget { get; init; }
    public string? RollbackOf { get; init; }
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Blue/green: until when the previous revision is kept warm, while it is (whole seconds); null otherwise.</summary>
    public DateTimeOffset? WarmUntil { get; init; }

    public static DeploymentMark Of(Deployment deployment)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        return new DeploymentMark
        {
            Id = deployment.Id,
            Kind = deployment.Kind,
            State = deployment.State,
            Strategy = deployment.Strategy,
            StableRevision = deployment.StableRevision,
            TargetRevision = deployment.TargetRevision,
            CurrentStep = deployment.CurrentStep,
            StepPhase = deployment.StepPhase,
            TotalSteps = deployment.TotalSteps,
            TargetWeight = deployment.TargetWeight,
            StableCountBefore = deployment.StableCountBefore,
            TestTrafficOnTarget = deployment.TestTrafficOnTarget,
            RollbackOf = deployment.RollbackOf,
            CreatedAt = deployment.CreatedAt,
            WarmUntil = deployment.WarmRevision is null ? null : deployment.WarmUntil,
        };
    }

    public string Encode()
    {
        var text = new StringBuilder()
            .Append("id=").Append(Id)
            .Append(" kind=").Append(Kind)
            .Append(" state=").Append(State)
            .Append(" strategy=").Append(Strategy)
            .Append(" stable=").Append(StableRevision is { } stable ? Number(stable) : "-")
            .Append(" target=").Append(Number(TargetRevision))
            .Append(" step=").Append(Number(CurrentStep))
            .Append(" phase=").Append(StepPhase)
            .Append(" steps=").Append(Number(TotalSteps))
            .Append(" weight=").Append(Number(TargetWeight))
            .Append(" stableCount=").Append(Number(StableCountBefore))
            .Append(" test=").Append(TestTrafficOnTarget ? '1' : '0')
            .Append(" at=").Append(Number(CreatedAt.ToUnixTimeSeconds()));
        if (RollbackOf is not null)
        {
            text.Append(" of=").Append(RollbackOf);
        }

        if (WarmUntil is { } warm)
        {
            // Rounded up: a window never ends earlier for a process that imports it.
            text.Append(" warm=").Append(Number((warm + TimeSpan.FromTicks(TimeSpan.TicksPerSecond - 1)).ToUnixTimeSeconds()));
        }

        return text.ToString();
    }

    /// <summary>Reads a mark back; throws <see cref="FormatException"/> naming the part that is wrong.</summary>
    public static DeploymentMark Decode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var parts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"'{part}' is not key=value");
            }

            parts[part[..eq]] = part[(eq + 1)..];
        }

        string Get(string key) => parts.TryGetValue(key, out var v) ? v : throw new FormatException($"'{key}=' is missing");
        int Int(string key) => int.TryParse(Get(key), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException($"{key}={Get(key)} is not a number");
        T Enum<T>(string key) where T : struct, System.Enum =>
            System.Enum.TryParse<T>(Get(key), ignoreCase: false, out var e) && System.Enum.IsDefined(e) ? e : throw new FormatException($"{key}={Get(key)} is not one of {string.Join(", ", System.Enum.GetNames<T>())}");

        return new DeploymentMark
        {
            Id = Get("id"),
            Kind = Enum<DeploymentKind>("kind"),
            State = Enum<DeploymentState>("state"),
            Strategy = Get("strategy"),
            StableRevision = Get("stable") == "-" ? null : Int("stable"),
            TargetRevision = Int("target"),
            CurrentStep = Int("step"),
            StepPhase = Enum<StepPhase>("phase"),
            TotalSteps = Int("steps"),
            TargetWeight = Int("weight"),
            StableCountBefore = Int("stableCount"),
            TestTrafficOnTarget = Get("test") == "1",
            RollbackOf = parts.GetValueOrDefault("of"),
            CreatedAt = long.TryParse(Get("at"), NumberStyles.None, CultureInfo.InvariantCulture, out var at)
                ? DateTimeOffset.FromUnixTimeSeconds(at) : throw new FormatException($"at={Get("at")} is not a number"),
            WarmUntil = !parts.TryGetValue("warm", out var warm) ? null
                : long.TryParse(warm, NumberStyles.None, CultureInfo.InvariantCulture, out var until) ? DateTimeOffset.FromUnixTimeSeconds(until)
                : throw new FormatException($"warm={warm} is not a number"),
        };
    }

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);
}
