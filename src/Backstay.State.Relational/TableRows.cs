using System.Data.Common;
using System.Text.Json;
using Backstay.Core.Model;
using static Backstay.State.Relational.SqlArg;

namespace Backstay.State.Relational;

/// <summary>
/// The columns each table is read with, and the reader of its rows next to them: a reader takes the columns by
/// position, so a list and its reader change together.
/// </summary>
internal sealed class TableRows(StoreDialect dialect)
{
    public string ServiceColumns { get; } =
        $"name, platform, stable_revision, desired_count, spec_json, {dialect.TimeColumn("created_at")}, {dialect.TimeColumn("updated_at")}";

    public string RevisionColumns { get; } =
        "service, number, image, digest, env_json, port, task_json, "
        + $"git_commit, git_message, git_author, git_branch, git_dirty, {dialect.TimeColumn("created_at")}, removed";

    public string DeploymentColumns { get; } =
        "id, service, kind, trigger, strategy, stable_revision, target_revision, state, current_step, step_phase, "
        + "total_steps, stable_count_before, target_weight, test_traffic_on_target, rollback_of, rolled_back_by, "
        + $"reason, plan_json, owner, progress_json, requested_by, {dialect.TimeColumn("created_at")}, "
        + $"{dialect.TimeColumn("updated_at")}, {dialect.TimeColumn("finished_at")}, {dialect.TimeColumn("safe_at")}, active, "
        + $"{dialect.TimeColumn("warm_until")}, {dialect.TimeColumn("warm_ended_at")}";

    /// <summary>The parameters of <see cref="DeploymentArgs"/>, in the order of <see cref="DeploymentColumns"/>.</summary>
    public string DeploymentValues { get; } =
        "@id, @service, @kind, @trigger, @strategy, @stable_revision, @target_revision, @state, @current_step, @step_phase, "
        + "@total_steps, @stable_count_before, @target_weight, @test_traffic_on_target, @rollback_of, @rolled_back_by, "
        + "@reason, @plan_json, @owner, @progress_json, @requested_by, @created_at, @updated_at, @finished_at, @safe_at, @active, @warm_until, @warm_ended_at";

    public string EventColumns { get; } =
        $"sequence, deployment_id, {dialect.TimeColumn("at")}, type, message, step, data_json";

    public string CommandColumns { get; } =
        $"id, deployment_id, kind, hook_id, requested_by, {dialect.TimeColumn("at")}";

    public string JournalColumns { get; } =
        $"sequence, deployment_id, step, phase, action, detail_json, {dialect.TimeColumn("at")}";

    public string SeriesColumns { get; } =
        $"deployment_id, {dialect.TimeColumn("at")}, revision, weight, requests, error_rate, p50_ms, p90_ms, p95_ms, p99_ms";

    /// <summary>The parameters of <see cref="SeriesArgs"/>, in the order of <see cref="SeriesColumns"/>.</summary>
    public const string SeriesValues = "@deployment_id, @at, @revision, @weight, @requests, @error_rate, @p50_ms, @p90_ms, @p95_ms, @p99_ms";

    private static JsonSerializerOptions DocumentJson => BackstayJson.Options;

    public SqlArg[] DeploymentArgs(Deployment deployment) =>
    [
        Text("id", deployment.Id),
        Text("service", deployment.Service),
        Text("kind", deployment.Kind.ToString()),
        Text("trigger", deployment.Trigger.ToString()),
        Text("strategy", deployment.Strategy),
        Int("stable_revision", deployment.StableRevision),
        Int("target_revision", deployment.TargetRevision),
        Text("state", deployment.State.ToString()),
        Int("current_step", deployment.CurrentStep),
        Text("step_phase", deployment.StepPhase.ToString()),
        Int("total_steps", deployment.TotalSteps),
        Int("stable_count_before", deployment.StableCountBefore),
        Int("target_weight", deployment.TargetWeight),
        Bool("test_traffic_on_target", deployment.TestTrafficOnTarget),
        Text("rollback_of", deployment.RollbackOf),
        Text("rolled_back_by", deployment.RolledBackBy),
        Text("reason", deployment.Reason),
        Text("plan_json", deployment.PlanJson),
        Text("owner", deployment.Owner),
        Text("progress_json", deployment.ProgressJson),
        Text("requested_by", deployment.RequestedBy),
        dialect.Time("created_at", deployment.CreatedAt),
        dialect.Time("updated_at", deployment.UpdatedAt),
        dialect.Time("finished_at", deployment.FinishedAt),
        dialect.Time("safe_at", deployment.SafeAt),

        // Stored so the conflict check (and PostgreSQL's one-active index) follows the model's own definition of active.
        Bool("active", deployment.IsActive),
        dialect.Time("warm_until", deployment.WarmUntil),
        dialect.Time("warm_ended_at", deployment.WarmEndedAt),
    ];

    public SqlArg[] SeriesArgs(SeriesPoint point) =>
    [
        Text("deployment_id", point.DeploymentId),
        dialect.Time("at", point.At),
        Int("revision", point.Revision),
        Int("weight", point.Weight),
        Long("requests", point.Requests),
        Double("error_rate", point.ErrorRate),
        Double("p50_ms", point.P50Ms),
        Double("p90_ms", point.P90Ms),
        Double("p95_ms", point.P95Ms),
        Double("p99_ms", point.P99Ms),
    ];

    public ServiceRecord Service(DbDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Platform = reader.GetString(1),
        StableRevision = NullableInt(reader, 2),
        DesiredCount = reader.GetInt32(3),
        SpecJson = reader.GetString(4),
        CreatedAt = dialect.ReadTime(reader, 5),
        UpdatedAt = dialect.ReadTime(reader, 6),
    };

    public Revision Revision(DbDataReader reader) => new()
    {
        Service = reader.GetString(0),
        Number = reader.GetInt32(1),
        Image = reader.GetString(2),
        Digest = NullableString(reader, 3),
        Env = BackstayJson.Deserialize<Dictionary<string, string>>(reader.GetString(4), DocumentJson) ?? [],
        Port = reader.GetInt32(5),
        TaskJson = reader.GetString(6),
        Provenance = new Provenance
        {
            Commit = NullableString(reader, 7),
            Message = NullableString(reader, 8),
            Author = NullableString(reader, 9),
            Branch = NullableString(reader, 10),
            Dirty = reader.GetBoolean(11),
        },
        CreatedAt = dialect.ReadTime(reader, 12),
        Removed = reader.GetBoolean(13),
    };

    public Deployment Deployment(DbDataReader reader) => new()
    {
        Id = reader.GetString(0),
        Service = reader.GetString(1),
        Kind = Enum.Parse<DeploymentKind>(reader.GetString(2)),
        Trigger = Enum.Parse<Trigger>(reader.GetString(3)),
        Strategy = reader.GetString(4),
        StableRevision = NullableInt(reader, 5),
        TargetRevision = reader.GetInt32(6),
        State = Enum.Parse<DeploymentState>(reader.GetString(7)),
        CurrentStep = reader.GetInt32(8),
        StepPhase = Enum.Parse<StepPhase>(reader.GetString(9)),
        TotalSteps = reader.GetInt32(10),
        StableCountBefore = reader.GetInt32(11),
        TargetWeight = reader.GetInt32(12),
        TestTrafficOnTarget = reader.GetBoolean(13),
        RollbackOf = NullableString(reader, 14),
        RolledBackBy = NullableString(reader, 15),
        Reason = NullableString(reader, 16),
        PlanJson = reader.GetString(17),
        Owner = NullableString(reader, 18),
        ProgressJson = NullableString(reader, 19),
        RequestedBy = NullableString(reader, 20),
        CreatedAt = dialect.ReadTime(reader, 21),
        UpdatedAt = dialect.ReadTime(reader, 22),
        FinishedAt = NullableTime(reader, 23),
        SafeAt = NullableTime(reader, 24),
        WarmUntil = NullableTime(reader, 26),
        WarmEndedAt = NullableTime(reader, 27),
    };

    public DeploymentEvent Event(DbDataReader reader) => new()
    {
        Sequence = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        At = dialect.ReadTime(reader, 2),
        Type = reader.GetString(3),
        Message = reader.GetString(4),
        Step = NullableInt(reader, 5),
        DataJson = NullableString(reader, 6),
    };

    public DeploymentCommand Command(DbDataReader reader) => new()
    {
        Id = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        Kind = Enum.Parse<CommandKind>(reader.GetString(2)),
        HookId = NullableString(reader, 3),
        RequestedBy = NullableString(reader, 4),
        At = dialect.ReadTime(reader, 5),
    };

    public JournalEntry JournalEntry(DbDataReader reader) => new()
    {
        Sequence = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        Step = reader.GetInt32(2),
        Phase = Enum.Parse<StepPhase>(reader.GetString(3)),
        Action = reader.GetString(4),
        DetailJson = NullableString(reader, 5),
        At = dialect.ReadTime(reader, 6),
    };

    public SeriesPoint SeriesPoint(DbDataReader reader) => new()
    {
        DeploymentId = reader.GetString(0),
        At = dialect.ReadTime(reader, 1),
        Revision = reader.GetInt32(2),
        Weight = reader.GetInt32(3),
        Requests = reader.IsDBNull(4) ? null : reader.GetInt64(4),
        ErrorRate = NullableDouble(reader, 5),
        P50Ms = NullableDouble(reader, 6),
        P90Ms = NullableDouble(reader, 7),
        P95Ms = NullableDouble(reader, 8),
        P99Ms = NullableDouble(reader, 9),
    };

    /// <summary>A row of one JSON document column (hook runs, observations).</summary>
    public static T Document<T>(DbDataReader reader) => BackstayJson.Deserialize<T>(reader.GetString(0), DocumentJson)!;

    public static string Document<T>(T value) => BackstayJson.Serialize(value, DocumentJson);

    private static string? NullableString(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static int? NullableInt(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt32(ordinal);

    private static double? NullableDouble(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    private DateTimeOffset? NullableTime(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : dialect.ReadTime(reader, ordinal);
}
