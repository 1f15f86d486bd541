using System.Globalization;
using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Microsoft.Data.Sqlite;

namespace Backstay.State.Sqlite;

/// <summary>An <see cref="IStateStore"/> in one SQLite file that several processes may use at once.</summary>
/// <remarks>
/// Each operation opens its own pooled connection, so the store is safe to share between threads.
/// Timestamps are stored as UTC round-trip text ("O"), which keeps every tick and sorts in time order.
/// </remarks>
public sealed class SqliteStateStore : IStateStore
{
    private const int BusyTimeoutSeconds = 5;

    // Both settings belong to the connection: wait (as long as BusyTimeoutSeconds) for another process's
    // writer instead of failing, and sync less often, which WAL makes safe against corruption.
    private const string ConnectionPragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";

    private const string ServiceColumns =
        "name, platform, stable_revision, desired_count, spec_json, created_at, updated_at";

    private const string RevisionColumns =
        "service, number, image, digest, env_json, port, task_json, "
        + "git_commit, git_message, git_author, git_branch, git_dirty, created_at, removed";

    private const string DeploymentColumns =
        "id, service, kind, trigger, strategy, stable_revision, target_revision, state, current_step, step_phase, "
        + "total_steps, stable_count_before, target_weight, test_traffic_on_target, rollback_of, rolled_back_by, "
        + "reason, plan_json, owner, progress_json, requested_by, created_at, updated_at, finished_at, safe_at, active";

    private const string DeploymentValues =
        "$id, $service, $kind, $trigger, $strategy, $stable_revision, $target_revision, $state, $current_step, $step_phase, "
        + "$total_steps, $stable_count_before, $target_weight, $test_traffic_on_target, $rollback_of, $rolled_back_by, "
        + "$reason, $plan_json, $owner, $progress_json, $requested_by, $created_at, $updated_at, $finished_at, $safe_at, $active";

    private const string EventColumns = "sequence, deployment_id, at, type, message, step, data_json";

    private const string CommandColumns = "id, deployment_id, kind, hook_id, requested_by, at";

    private const string JournalColumns = "sequence, deployment_id, step, phase, action, detail_json, at";

    private static JsonSerializerOptions DocumentJson => BackstayJson.Options;

    private readonly string _stateDirectory;
    private readonly string _connectionString;
    private readonly TimeProvider _timeProvider;

    public SqliteStateStore(string stateDirectory, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stateDirectory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _stateDirectory = Path.GetFullPath(stateDirectory);
        _timeProvider = timeProvider;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath(_stateDirectory),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString();
    }

    /// <summary>The database file the store keeps in a state directory.</summary>
    public static string DatabasePath(string stateDirectory) =>
        Path.Combine(Path.GetFullPath(stateDirectory), "backstay.db");

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_stateDirectory);
        await using var connection = await OpenAsync(cancellationToken);

        // The journal mode is kept in the file and cannot change inside a transaction.
        await ExecuteAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken);

        await using var transaction = connection.BeginTransaction(deferred: false);
        var version = Convert.ToInt32(
            await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken), CultureInfo.InvariantCulture);
        if (version > SqliteSchema.Version)
        {
            throw new InvalidOperationException(
                $"The state database {DatabasePath(_stateDirectory)} has schema version {version}, but this Backstay "
                + $"knows only up to {SqliteSchema.Version}; upgrade Backstay or use another state directory.");
        }

        if (version == 1)
        {
            await ExecuteAsync(connection, SqliteSchema.FromVersion1, cancellationToken);
        }

        await ExecuteAsync(connection, SqliteSchema.Script, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken)
    {
        var services = await QueryAsync(
            $"SELECT {ServiceColumns} FROM services WHERE name = $name;",
            ReadService,
            cancellationToken,
            ("$name", name));
        return services.SingleOrDefault();
    }

    public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) =>
        QueryAsync($"SELECT {ServiceColumns} FROM services ORDER BY name;", ReadService, cancellationToken);

    /// <remarks>The first CreatedAt of a service is kept; every other field is overwritten.</remarks>
    public async Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            $"""
            INSERT INTO services ({ServiceColumns})
            VALUES ($name, $platform, $stable_revision, $desired_count, $spec_json, $created_at, $updated_at)
            ON CONFLICT (name) DO UPDATE SET
                platform = excluded.platform,
                stable_revision = excluded.stable_revision,
                desired_count = excluded.desired_count,
                spec_json = excluded.spec_json,
                updated_at = excluded.updated_at;
            """,
            cancellationToken,
            ("$name", service.Name),
            ("$platform", service.Platform),
            ("$stable_revision", service.StableRevision),
            ("$desired_count", service.DesiredCount),
            ("$spec_json", service.SpecJson),
            ("$created_at", ToText(service.CreatedAt)),
            ("$updated_at", ToText(service.UpdatedAt)));
    }

    public Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        return InWriteTransactionAsync(
            async connection =>
            {
                var next = Convert.ToInt32(
                    await ScalarAsync(
                        connection,
                        "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE service = $service;",
                        cancellationToken,
                        ("$service", revision.Service)),
                    CultureInfo.InvariantCulture);
                var numbered = revision with { Number = next };
                await ExecuteAsync(
                    connection,
                    $"""
                    INSERT INTO revisions ({RevisionColumns})
                    VALUES ($service, $number, $image, $digest, $env_json, $port, $task_json,
                            $git_commit, $git_message, $git_author, $git_branch, $git_dirty, $created_at, $removed);
                    """,
                    cancellationToken,
                    ("$service", numbered.Service),
                    ("$number", numbered.Number),
                    ("$image", numbered.Image),
                    ("$digest", numbered.Digest),
                    ("$env_json", JsonSerializer.Serialize(numbered.Env)),
                    ("$port", numbered.Port),
                    ("$task_json", numbered.TaskJson),
                    ("$git_commit", numbered.Provenance.Commit),
                    ("$git_message", numbered.Provenance.Message),
                    ("$git_author", numbered.Provenance.Author),
                    ("$git_branch", numbered.Provenance.Branch),
                    ("$git_dirty", numbered.Provenance.Dirty),
                    ("$created_at", ToText(numbered.CreatedAt)),
                    ("$removed", numbered.Removed));
                return numbered;
            },
            cancellationToken);
    }

    public async Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken)
    {
        var revisions = await QueryAsync(
            $"SELECT {RevisionColumns} FROM revisions WHERE service = $service AND number = $number;",
            ReadRevision,
            cancellationToken,
            ("$service", service),
            ("$number", number));
        return revisions.SingleOrDefault();
    }

    public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {RevisionColumns} FROM revisions WHERE service = $service ORDER BY number DESC;",
            ReadRevision,
            cancellationToken,
            ("$service", service));

    public async Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var changed = await ExecuteAsync(
            connection,
            "UPDATE revisions SET removed = 1 WHERE service = $service AND number = $number;",
            cancellationToken,
            ("$service", service),
            ("$number", number));
        if (changed == 0)
        {
            throw new InvalidOperationException($"Service '{service}' has no revision {number}.");
        }
    }

    public Task CreateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        return InWriteTransactionAsync(
            async connection =>
            {
                await ThrowIfConflictAsync(connection, deployment.Service, ignoredId: null, cancellationToken);
                await InsertDeploymentAsync(connection, deployment, cancellationToken);
            },
            cancellationToken);
    }

    public Task CreateRollbackAsync(Deployment rollback, Deployment undone, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rollback);
        ArgumentNullException.ThrowIfNull(undone);
        return InWriteTransactionAsync(
            async connection =>
            {
                await ThrowIfConflictAsync(connection, rollback.Service, undone.Id, cancellationToken);
                await UpdateDeploymentAsync(connection, undone, cancellationToken);
                await InsertDeploymentAsync(connection, rollback, cancellationToken);
            },
            cancellationToken);
    }

    public async Task UpdateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        await using var connection = await OpenAsync(cancellationToken);
        await UpdateDeploymentAsync(connection, deployment, cancellationToken);
    }

    public async Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken)
    {
        var deployments = await QueryAsync(
            $"SELECT {DeploymentColumns} FROM deployments WHERE id = $id;",
            ReadDeployment,
            cancellationToken,
            ("$id", id));
        return deployments.SingleOrDefault();
    }

    public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(
        string? service, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return QueryAsync(
            $"""
            SELECT {DeploymentColumns} FROM deployments
            WHERE $service IS NULL OR service = $service
            ORDER BY created_at DESC, rowid DESC
            LIMIT $limit;
            """,
            ReadDeployment,
            cancellationToken,
            ("$service", service),
            ("$limit", limit));
    }

    public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {DeploymentColumns} FROM deployments WHERE active = 1 ORDER BY created_at, rowid;",
            ReadDeployment,
            cancellationToken);

    public async Task<DeploymentEvent> AppendEventAsync(
        DeploymentEvent deploymentEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deploymentEvent);
        await using var connection = await OpenAsync(cancellationToken);
        var sequence = Convert.ToInt64(
            await ScalarAsync(
                connection,
                """
                INSERT INTO events (deployment_id, at, type, message, step, data_json)
                VALUES ($deployment_id, $at, $type, $message, $step, $data_json)
                RETURNING sequence;
                """,
                cancellationToken,
                ("$deployment_id", deploymentEvent.DeploymentId),
                ("$at", ToText(deploymentEvent.At)),
                ("$type", deploymentEvent.Type),
                ("$message", deploymentEvent.Message),
                ("$step", deploymentEvent.Step),
                ("$data_json", deploymentEvent.DataJson)),
            CultureInfo.InvariantCulture);
        return deploymentEvent with { Sequence = sequence };
    }

    public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(
        string deploymentId, long afterSequence, CancellationToken cancellationToken) =>
        QueryAsync(
            $"""
            SELECT {EventColumns} FROM events
            WHERE deployment_id = $deployment_id AND sequence > $after
            ORDER BY sequence;
            """,
            ReadEvent,
            cancellationToken,
            ("$deployment_id", deploymentId),
            ("$after", afterSequence));

    public async Task<DeploymentCommand> EnqueueCommandAsync(
        DeploymentCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        await using var connection = await OpenAsync(cancellationToken);
        var id = Convert.ToInt64(
            await ScalarAsync(
                connection,
                """
                INSERT INTO commands (deployment_id, kind, hook_id, requested_by, at)
                VALUES ($deployment_id, $kind, $hook_id, $requested_by, $at)
                RETURNING id;
                """,
                cancellationToken,
                ("$deployment_id", command.DeploymentId),
                ("$kind", command.Kind.ToString()),
                ("$hook_id", command.HookId),
                ("$requested_by", command.RequestedBy),
                ("$at", ToText(command.At))),
            CultureInfo.InvariantCulture);
        return command with { Id = id };
    }

    public async Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(
        string deploymentId, CancellationToken cancellationToken)
    {
        // One DELETE ... RETURNING statement, so two processes can never take the same command.
        var taken = await QueryAsync(
            $"DELETE FROM commands WHERE deployment_id = $deployment_id RETURNING {CommandColumns};",
            ReadCommand,
            cancellationToken,
            ("$deployment_id", deploymentId));
        return [.. taken.OrderBy(command => command.Id)];
    }

    public async Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            """
            INSERT INTO journal (deployment_id, step, phase, action, detail_json, at)
            VALUES ($deployment_id, $step, $phase, $action, $detail_json, $at);
            """,
            cancellationToken,
            ("$deployment_id", entry.DeploymentId),
            ("$step", entry.Step),
            ("$phase", entry.Phase.ToString()),
            ("$action", entry.Action),
            ("$detail_json", entry.DetailJson),
            ("$at", ToText(entry.At)));
    }

    public Task<IReadOnlyList<JournalEntry>> ListJournalAsync(
        string deploymentId, CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {JournalColumns} FROM journal WHERE deployment_id = $deployment_id ORDER BY sequence;",
            ReadJournalEntry,
            cancellationToken,
            ("$deployment_id", deploymentId));

    public async Task<bool> TryAcquireLeaseAsync(
        string key, string owner, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        var now = _timeProvider.GetUtcNow();
        await using var connection = await OpenAsync(cancellationToken);

        // One statement: the row is written only when it is free, ours, or expired, and the change count says which.
        var changed = await ExecuteAsync(
            connection,
            """
            INSERT INTO leases (key, owner, expires_at, generation) VALUES ($key, $owner, $expires_at, 1)
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
                generation = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > $now THEN leases.generation ELSE leases.generation + 1 END
            WHERE leases.owner = excluded.owner OR leases.expires_at <= $now;
            """,
            cancellationToken,
            ("$key", key),
            ("$owner", owner),
            ("$expires_at", ToText(now + ttl)),
            ("$now", ToText(now)));
        return changed == 1;
    }

    public async Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            "UPDATE leases SET expires_at = $expired WHERE key = $key AND owner = $owner;",
            cancellationToken,
            ("$key", key),
            ("$owner", owner),
            ("$expired", ToText(DateTimeOffset.UnixEpoch)));
    }

    public async Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var generation = await ScalarAsync(
            connection,
            "SELECT generation FROM leases WHERE key = $key AND owner = $owner AND expires_at > $now;",
            cancellationToken,
            ("$key", key),
            ("$owner", owner),
            ("$now", ToText(_timeProvider.GetUtcNow())));
        return generation is null or DBNull ? null : Convert.ToInt64(generation, CultureInfo.InvariantCulture);
    }

    public async Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            """
            INSERT INTO hook_runs (id, deployment_id, json) VALUES ($id, $deployment_id, $json)
            ON CONFLICT (id) DO UPDATE SET json = excluded.json;
            """,
            cancellationToken,
            ("$id", run.Id),
            ("$deployment_id", run.DeploymentId),
            ("$json", JsonSerializer.Serialize(run, DocumentJson)));
    }

    public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) =>
        QueryAsync(
            "SELECT json FROM hook_runs WHERE deployment_id = $deployment_id ORDER BY rowid;",
            reader => JsonSerializer.Deserialize<HookRun>(reader.GetString(0), DocumentJson)!,
            cancellationToken,
            ("$deployment_id", deploymentId));

    public async Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(observation);
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            """
            INSERT INTO observations (service, json) VALUES ($service, $json)
            ON CONFLICT (service) DO UPDATE SET json = excluded.json;
            """,
            cancellationToken,
            ("$service", observation.Service),
            ("$json", JsonSerializer.Serialize(observation, DocumentJson)));
    }

    public async Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(
            "SELECT json FROM observations WHERE service = $service;",
            reader => JsonSerializer.Deserialize<Observation>(reader.GetString(0), DocumentJson)!,
            cancellationToken,
            ("$service", service));
        return rows.Count == 0 ? null : rows[0];
    }

    public ValueTask DisposeAsync()
    {
        // Pooled connections keep the file (and its -wal and -shm files) open until the pool lets them go.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    private static async Task ThrowIfConflictAsync(
        SqliteConnection connection, string service, string? ignoredId, CancellationToken cancellationToken)
    {
        var activeId = await ScalarAsync(
            connection,
            """
            SELECT id FROM deployments
            WHERE service = $service AND active = 1 AND ($ignored IS NULL OR id <> $ignored)
            ORDER BY created_at, rowid
            LIMIT 1;
            """,
            cancellationToken,
            ("$service", service),
            ("$ignored", ignoredId));
        if (activeId is string id)
        {
            throw new DeploymentConflictException(service, id);
        }
    }

    private static async Task InsertDeploymentAsync(
        SqliteConnection connection, Deployment deployment, CancellationToken cancellationToken)
    {
        var exists = await ScalarAsync(
            connection, "SELECT 1 FROM deployments WHERE id = $id;", cancellationToken, ("$id", deployment.Id));
        if (exists is not null)
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} already exists.");
        }

        await ExecuteAsync(
            connection,
            $"INSERT INTO deployments ({DeploymentColumns}) VALUES ({DeploymentValues});",
            cancellationToken,
            DeploymentParameters(deployment));
    }

    private static async Task UpdateDeploymentAsync(
        SqliteConnection connection, Deployment deployment, CancellationToken cancellationToken)
    {
        var changed = await ExecuteAsync(
            connection,
            $"UPDATE deployments SET ({DeploymentColumns}) = ({DeploymentValues}) WHERE id = $id;",
            cancellationToken,
            DeploymentParameters(deployment));
        if (changed == 0)
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} does not exist, so it cannot be updated.");
        }
    }

    private static (string Name, object? Value)[] DeploymentParameters(Deployment deployment) =>
    [
        ("$id", deployment.Id),
        ("$service", deployment.Service),
        ("$kind", deployment.Kind.ToString()),
        ("$trigger", deployment.Trigger.ToString()),
        ("$strategy", deployment.Strategy),
        ("$stable_revision", deployment.StableRevision),
        ("$target_revision", deployment.TargetRevision),
        ("$state", deployment.State.ToString()),
        ("$current_step", deployment.CurrentStep),
        ("$step_phase", deployment.StepPhase.ToString()),
        ("$total_steps", deployment.TotalSteps),
        ("$stable_count_before", deployment.StableCountBefore),
        ("$target_weight", deployment.TargetWeight),
        ("$test_traffic_on_target", deployment.TestTrafficOnTarget),
        ("$rollback_of", deployment.RollbackOf),
        ("$rolled_back_by", deployment.RolledBackBy),
        ("$reason", deployment.Reason),
        ("$plan_json", deployment.PlanJson),
        ("$owner", deployment.Owner),
        ("$progress_json", deployment.ProgressJson),
        ("$requested_by", deployment.RequestedBy),
        ("$created_at", ToText(deployment.CreatedAt)),
        ("$updated_at", ToText(deployment.UpdatedAt)),
        ("$finished_at", ToText(deployment.FinishedAt)),
        ("$safe_at", ToText(deployment.SafeAt)),

        // Stored so the conflict check follows the model's own definition of active.
        ("$active", deployment.IsActive),
    ];

    private static ServiceRecord ReadService(SqliteDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Platform = reader.GetString(1),
        StableRevision = NullableInt(reader, 2),
        DesiredCount = reader.GetInt32(3),
        SpecJson = reader.GetString(4),
        CreatedAt = ReadTime(reader, 5),
        UpdatedAt = ReadTime(reader, 6),
    };

    private static Revision ReadRevision(SqliteDataReader reader) => new()
    {
        Service = reader.GetString(0),
        Number = reader.GetInt32(1),
        Image = reader.GetString(2),
        Digest = NullableString(reader, 3),
        Env = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(4)) ?? [],
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
        CreatedAt = ReadTime(reader, 12),
        Removed = reader.GetBoolean(13),
    };

    private static Deployment ReadDeployment(SqliteDataReader reader) => new()
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
        CreatedAt = ReadTime(reader, 21),
        UpdatedAt = ReadTime(reader, 22),
        FinishedAt = NullableTime(reader, 23),
        SafeAt = NullableTime(reader, 24),
    };

    private static DeploymentEvent ReadEvent(SqliteDataReader reader) => new()
    {
        Sequence = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        At = ReadTime(reader, 2),
        Type = reader.GetString(3),
        Message = reader.GetString(4),
        Step = NullableInt(reader, 5),
        DataJson = NullableString(reader, 6),
    };

    private static DeploymentCommand ReadCommand(SqliteDataReader reader) => new()
    {
        Id = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        Kind = Enum.Parse<CommandKind>(reader.GetString(2)),
        HookId = NullableString(reader, 3),
        RequestedBy = NullableString(reader, 4),
        At = ReadTime(reader, 5),
    };

    private static JournalEntry ReadJournalEntry(SqliteDataReader reader) => new()
    {
        Sequence = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        Step = reader.GetInt32(2),
        Phase = Enum.Parse<StepPhase>(reader.GetString(3)),
        Action = reader.GetString(4),
        DetailJson = NullableString(reader, 5),
        At = ReadTime(reader, 6),
    };

    private static string? NullableString(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static int? NullableInt(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt32(ordinal);

    private static DateTimeOffset? NullableTime(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : ReadTime(reader, ordinal);

    private static DateTimeOffset ReadTime(SqliteDataReader reader, int ordinal) =>
        DateTimeOffset.ParseExact(reader.GetString(ordinal), "O", CultureInfo.InvariantCulture);

    private static string ToText(DateTimeOffset value) =>
        value.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    private static string? ToText(DateTimeOffset? value) => value is { } time ? ToText(time) : null;

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await ExecuteAsync(connection, ConnectionPragmas, cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private Task InWriteTransactionAsync(Func<SqliteConnection, Task> work, CancellationToken cancellationToken) =>
        InWriteTransactionAsync(
            async connection =>
            {
                await work(connection);
                return true;
            },
            cancellationToken);

    private async Task<T> InWriteTransactionAsync<T>(
        Func<SqliteConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);

        // BEGIN IMMEDIATE takes the write lock before the first read, so a read-then-write
        // cannot interleave with another process's write.
        await using var transaction = connection.BeginTransaction(deferred: false);
        var result = await work(connection);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    private async Task<IReadOnlyList<T>> QueryAsync<T>(
        string sql,
        Func<SqliteDataReader, T> read,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = CreateCommand(connection, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    private static async Task<int> ExecuteAsync(
        SqliteConnection connection,
        string sql,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = CreateCommand(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<object?> ScalarAsync(
        SqliteConnection connection,
        string sql,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = CreateCommand(connection, sql, parameters);
        var result = await command.ExecuteScalarAsync(cancellationToken);
        return result is DBNull ? null : result;
    }

    private static SqliteCommand CreateCommand(
        SqliteConnection connection, string sql, (string Name, object? Value)[] parameters)
    {
        // CreateCommand enlists the command in the connection's open transaction, if any.
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }
}
