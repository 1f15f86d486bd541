using System.Globalization;
using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Npgsql;
using NpgsqlTypes;

namespace Backstay.State.Postgres;

/// <summary>An <see cref="IStateStore"/> in a PostgreSQL database that several Backstay replicas share.</summary>
/// <remarks>
/// Each operation takes its own connection from a pooled data source, so the store is safe to share between threads.
/// Writes that read before they write serialize on transaction-scoped advisory locks, keyed by service or deployment,
/// so they behave as SQLite's single writer does without locking whole tables.
/// </remarks>
public sealed class PostgresStateStore : IStateStore
{
    // First key of the two-key advisory locks: one class per kind of serialized write, the second key hashes the name.
    private const int SchemaLock = 0x4273_0000;
    private const int RevisionNumberLock = 0x4273_0001;
    private const int DeploymentLock = 0x4273_0002;
    private const int EventLock = 0x4273_0003;

    private const string ServiceColumns =
        "name, platform, stable_revision, desired_count, spec_json, created_at_ticks, updated_at_ticks";

    private const string RevisionColumns =
        "service, number, image, digest, env_json, port, task_json, "
        + "git_commit, git_message, git_author, git_branch, git_dirty, created_at_ticks, removed";

    private const string DeploymentColumns =
        "id, service, kind, trigger, strategy, stable_revision, target_revision, state, current_step, step_phase, "
        + "total_steps, stable_count_before, target_weight, test_traffic_on_target, rollback_of, rolled_back_by, "
        + "reason, plan_json, owner, progress_json, requested_by, created_at_ticks, updated_at_ticks, "
        + "finished_at_ticks, safe_at_ticks, active";

    private const string DeploymentValues =
        "@id, @service, @kind, @trigger, @strategy, @stable_revision, @target_revision, @state, @current_step, @step_phase, "
        + "@total_steps, @stable_count_before, @target_weight, @test_traffic_on_target, @rollback_of, @rolled_back_by, "
        + "@reason, @plan_json, @owner, @progress_json, @requested_by, @created_at, @updated_at, "
        + "@finished_at, @safe_at, @active";

    private const string EventColumns = "sequence, deployment_id, at_ticks, type, message, step, data_json";

    private const string CommandColumns = "id, deployment_id, kind, hook_id, requested_by, at_ticks";

    private const string JournalColumns = "sequence, deployment_id, step, phase, action, detail_json, at_ticks";

    private static JsonSerializerOptions DocumentJson => BackstayJson.Options;

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _timeProvider;

    public PostgresStateStore(string connectionString, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _timeProvider = timeProvider;
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public Task InitializeAsync(CancellationToken cancellationToken) =>
        InTransactionAsync(
            async connection =>
            {
                // CREATE ... IF NOT EXISTS is not safe against itself: replicas starting together take turns.
                await ExecuteAsync(
                    connection, "SELECT pg_advisory_xact_lock(@class, 0);", cancellationToken, Int("class", SchemaLock));
                await ExecuteAsync(connection, PostgresSchema.VersionTable, cancellationToken);
                var version = await ScalarAsync(connection, "SELECT version FROM schema_version;", cancellationToken);
                if (version is int stored && stored > PostgresSchema.Version)
                {
                    throw new InvalidOperationException(
                        $"The state database {DatabaseName(connection)} has schema version {stored}, but this Backstay "
                        + $"knows only up to {PostgresSchema.Version}; upgrade Backstay or use another database.");
                }

                await ExecuteAsync(connection, PostgresSchema.Script, cancellationToken);
                await ExecuteAsync(
                    connection,
                    """
                    INSERT INTO schema_version (id, version) VALUES (true, @version)
                    ON CONFLICT (id) DO UPDATE SET version = excluded.version;
                    """,
                    cancellationToken,
                    Int("version", PostgresSchema.Version));
            },
            cancellationToken);

    public async Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken)
    {
        var services = await QueryAsync(
            $"SELECT {ServiceColumns} FROM services WHERE name = @name;",
            ReadService,
            cancellationToken,
            Text("name", name));
        return services.SingleOrDefault();
    }

    public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) =>
        QueryAsync($"SELECT {ServiceColumns} FROM services ORDER BY name COLLATE \"C\";", ReadService, cancellationToken);

    /// <remarks>The first CreatedAt of a service is kept; every other field is overwritten.</remarks>
    public async Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            $"""
            INSERT INTO services ({ServiceColumns})
            VALUES (@name, @platform, @stable_revision, @desired_count, @spec_json, @created_at, @updated_at)
            ON CONFLICT (name) DO UPDATE SET
                platform = excluded.platform,
                stable_revision = excluded.stable_revision,
                desired_count = excluded.desired_count,
                spec_json = excluded.spec_json,
                updated_at_ticks = excluded.updated_at_ticks;
            """,
            cancellationToken,
            Text("name", service.Name),
            Text("platform", service.Platform),
            Int("stable_revision", service.StableRevision),
            Int("desired_count", service.DesiredCount),
            Text("spec_json", service.SpecJson),
            Ticks("created_at", service.CreatedAt),
            Ticks("updated_at", service.UpdatedAt));
    }

    public Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        return InTransactionAsync(
            async connection =>
            {
                // MAX + 1 is only unique while no other writer of the same service reads MAX between ours and our insert.
                await LockAsync(connection, RevisionNumberLock, revision.Service, cancellationToken);
                var number = Convert.ToInt32(
                    await ScalarAsync(
                        connection,
                        $"""
                        INSERT INTO revisions ({RevisionColumns})
                        SELECT @service, COALESCE(MAX(number), 0) + 1, @image, @digest, @env_json, @port, @task_json,
                               @git_commit, @git_message, @git_author, @git_branch, @git_dirty, @created_at, @removed
                        FROM revisions WHERE service = @service
                        RETURNING number;
                        """,
                        cancellationToken,
                        Text("service", revision.Service),
                        Text("image", revision.Image),
                        Text("digest", revision.Digest),
                        Text("env_json", JsonSerializer.Serialize(revision.Env)),
                        Int("port", revision.Port),
                        Text("task_json", revision.TaskJson),
                        Text("git_commit", revision.Provenance.Commit),
                        Text("git_message", revision.Provenance.Message),
                        Text("git_author", revision.Provenance.Author),
                        Text("git_branch", revision.Provenance.Branch),
                        Bool("git_dirty", revision.Provenance.Dirty),
                        Ticks("created_at", revision.CreatedAt),
                        Bool("removed", revision.Removed)),
                    CultureInfo.InvariantCulture);
                return revision with { Number = number };
            },
            cancellationToken);
    }

    public async Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken)
    {
        var revisions = await QueryAsync(
            $"SELECT {RevisionColumns} FROM revisions WHERE service = @service AND number = @number;",
            ReadRevision,
            cancellationToken,
            Text("service", service),
            Int("number", number));
        return revisions.SingleOrDefault();
    }

    public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {RevisionColumns} FROM revisions WHERE service = @service ORDER BY number DESC;",
            ReadRevision,
            cancellationToken,
            Text("service", service));

    public async Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var changed = await ExecuteAsync(
            connection,
            "UPDATE revisions SET removed = true WHERE service = @service AND number = @number;",
            cancellationToken,
            Text("service", service),
            Int("number", number));
        if (changed == 0)
        {
            throw new InvalidOperationException($"Service '{service}' has no revision {number}.");
        }
    }

    public Task CreateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        return WriteDeploymentsAsync(
            deployment.Service,
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
        return WriteDeploymentsAsync(
            rollback.Service,
            async connection =>
            {
                await ThrowIfConflictAsync(connection, rollback.Service, undone.Id, cancellationToken);

                // The undone deployment first: as RollingBack it leaves the one-active index before the rollback enters it.
                await UpdateDeploymentAsync(connection, undone, cancellationToken);
                await InsertDeploymentAsync(connection, rollback, cancellationToken);
            },
            cancellationToken);
    }

    public async Task UpdateDeploymentAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await UpdateDeploymentAsync(connection, deployment, cancellationToken);
        }
        catch (PostgresException ex) when (IsViolationOf(ex, PostgresSchema.OneActiveDeploymentIndex))
        {
            throw await ConflictAsync(deployment.Service, deployment.Id, cancellationToken);
        }
    }

    public async Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken)
    {
        var deployments = await QueryAsync(
            $"SELECT {DeploymentColumns} FROM deployments WHERE id = @id;",
            ReadDeployment,
            cancellationToken,
            Text("id", id));
        return deployments.SingleOrDefault();
    }

    public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(
        string? service, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return QueryAsync(
            $"""
            SELECT {DeploymentColumns} FROM deployments
            WHERE @service IS NULL OR service = @service
            ORDER BY created_at_ticks DESC, seq DESC
            LIMIT @limit;
            """,
            ReadDeployment,
            cancellationToken,
            Text("service", service),
            Int("limit", limit));
    }

    public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {DeploymentColumns} FROM deployments WHERE active ORDER BY created_at_ticks, seq;",
            ReadDeployment,
            cancellationToken);

    public Task<DeploymentEvent> AppendEventAsync(DeploymentEvent deploymentEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deploymentEvent);
        return InTransactionAsync(
            async connection =>
            {
                // Readers page with "after sequence N": appends to one deployment must commit in sequence order, or a
                // reader could pass N + 1 before N becomes visible and never see N.
                await LockAsync(connection, EventLock, deploymentEvent.DeploymentId, cancellationToken);
                var sequence = Convert.ToInt64(
                    await ScalarAsync(
                        connection,
                        """
                        INSERT INTO events (deployment_id, at_ticks, type, message, step, data_json)
                        VALUES (@deployment_id, @at, @type, @message, @step, @data_json)
                        RETURNING sequence;
                        """,
                        cancellationToken,
                        Text("deployment_id", deploymentEvent.DeploymentId),
                        Ticks("at", deploymentEvent.At),
                        Text("type", deploymentEvent.Type),
                        Text("message", deploymentEvent.Message),
                        Int("step", deploymentEvent.Step),
                        Text("data_json", deploymentEvent.DataJson)),
                    CultureInfo.InvariantCulture);
                return deploymentEvent with { Sequence = sequence };
            },
            cancellationToken);
    }

    public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(
        string deploymentId, long afterSequence, CancellationToken cancellationToken) =>
        QueryAsync(
            $"""
            SELECT {EventColumns} FROM events
            WHERE deployment_id = @deployment_id AND sequence > @after
            ORDER BY sequence;
            """,
            ReadEvent,
            cancellationToken,
            Text("deployment_id", deploymentId),
            Long("after", afterSequence));

    public async Task<DeploymentCommand> EnqueueCommandAsync(
        DeploymentCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var id = Convert.ToInt64(
            await ScalarAsync(
                connection,
                """
                INSERT INTO commands (deployment_id, kind, hook_id, requested_by, at_ticks)
                VALUES (@deployment_id, @kind, @hook_id, @requested_by, @at)
                RETURNING id;
                """,
                cancellationToken,
                Text("deployment_id", command.DeploymentId),
                Text("kind", command.Kind.ToString()),
                Text("hook_id", command.HookId),
                Text("requested_by", command.RequestedBy),
                Ticks("at", command.At)),
            CultureInfo.InvariantCulture);
        return command with { Id = id };
    }

    public async Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(
        string deploymentId, CancellationToken cancellationToken)
    {
        // One DELETE ... RETURNING statement: a concurrent DELETE waits on the row locks, then skips the rows gone,
        // so two replicas can never take the same command.
        var taken = await QueryAsync(
            $"DELETE FROM commands WHERE deployment_id = @deployment_id RETURNING {CommandColumns};",
            ReadCommand,
            cancellationToken,
            Text("deployment_id", deploymentId));
        return [.. taken.OrderBy(command => command.Id)];
    }

    public async Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            """
            INSERT INTO journal (deployment_id, step, phase, action, detail_json, at_ticks)
            VALUES (@deployment_id, @step, @phase, @action, @detail_json, @at);
            """,
            cancellationToken,
            Text("deployment_id", entry.DeploymentId),
            Int("step", entry.Step),
            Text("phase", entry.Phase.ToString()),
            Text("action", entry.Action),
            Text("detail_json", entry.DetailJson),
            Ticks("at", entry.At));
    }

    public Task<IReadOnlyList<JournalEntry>> ListJournalAsync(
        string deploymentId, CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {JournalColumns} FROM journal WHERE deployment_id = @deployment_id ORDER BY sequence;",
            ReadJournalEntry,
            cancellationToken,
            Text("deployment_id", deploymentId));

    public async Task<bool> TryAcquireLeaseAsync(
        string key, string owner, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        var now = _timeProvider.GetUtcNow();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);

        // One statement: ON CONFLICT locks the existing row and evaluates the WHERE on its latest version, so the row
        // is written only when it is free, ours, or expired, and the change count says which.
        var changed = await ExecuteAsync(
            connection,
            """
            INSERT INTO leases (key, owner, expires_at_ticks, generation) VALUES (@key, @owner, @expires_at, 1)
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at_ticks = excluded.expires_at_ticks,
                generation = CASE WHEN leases.owner = excluded.owner AND leases.expires_at_ticks > @now THEN leases.generation ELSE leases.generation + 1 END
            WHERE leases.owner = excluded.owner OR leases.expires_at_ticks <= @now;
            """,
            cancellationToken,
            Text("key", key),
            Text("owner", owner),
            Ticks("expires_at", now + ttl),
            Ticks("now", now));
        return changed == 1;
    }

    public async Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            "UPDATE leases SET expires_at_ticks = 0 WHERE key = @key AND owner = @owner;",
            cancellationToken,
            Text("key", key),
            Text("owner", owner));
    }

    public async Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var generation = await ScalarAsync(
            connection,
            "SELECT generation FROM leases WHERE key = @key AND owner = @owner AND expires_at_ticks > @now;",
            cancellationToken,
            Text("key", key),
            Text("owner", owner),
            Ticks("now", _timeProvider.GetUtcNow()));
        return generation is null or DBNull ? null : Convert.ToInt64(generation, System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            """
            INSERT INTO hook_runs (id, deployment_id, json) VALUES (@id, @deployment_id, @json)
            ON CONFLICT (id) DO UPDATE SET json = excluded.json;
            """,
            cancellationToken,
            Text("id", run.Id),
            Text("deployment_id", run.DeploymentId),
            Text("json", JsonSerializer.Serialize(run, DocumentJson)));
    }

    public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) =>
        QueryAsync(
            "SELECT json FROM hook_runs WHERE deployment_id = @deployment_id ORDER BY seq;",
            reader => JsonSerializer.Deserialize<HookRun>(reader.GetString(0), DocumentJson)!,
            cancellationToken,
            Text("deployment_id", deploymentId));

    public async Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(observation);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            """
            INSERT INTO observations (service, json) VALUES (@service, @json)
            ON CONFLICT (service) DO UPDATE SET json = excluded.json;
            """,
            cancellationToken,
            Text("service", observation.Service),
            Text("json", JsonSerializer.Serialize(observation, DocumentJson)));
    }

    public async Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(
            "SELECT json FROM observations WHERE service = @service;",
            reader => JsonSerializer.Deserialize<Observation>(reader.GetString(0), DocumentJson)!,
            cancellationToken,
            Text("service", service));
        return rows.Count == 0 ? null : rows[0];
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static async Task ThrowIfConflictAsync(
        NpgsqlConnection connection, string service, string? ignoredId, CancellationToken cancellationToken)
    {
        if (await ActiveDeploymentIdAsync(connection, service, ignoredId, cancellationToken) is { } id)
        {
            throw new DeploymentConflictException(service, id);
        }
    }

    private static async Task<string?> ActiveDeploymentIdAsync(
        NpgsqlConnection connection, string service, string? ignoredId, CancellationToken cancellationToken) =>
        await ScalarAsync(
            connection,
            """
            SELECT id FROM deployments
            WHERE service = @service AND active AND (@ignored IS NULL OR id <> @ignored)
            ORDER BY created_at_ticks, seq
            LIMIT 1;
            """,
            cancellationToken,
            Text("service", service),
            Text("ignored", ignoredId)) as string;

    private static async Task InsertDeploymentAsync(
        NpgsqlConnection connection, Deployment deployment, CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync(
                connection,
                $"INSERT INTO deployments ({DeploymentColumns}) VALUES ({DeploymentValues});",
                cancellationToken,
                DeploymentParameters(deployment));
        }
        catch (PostgresException ex) when (IsViolationOf(ex, PostgresSchema.DeploymentsPrimaryKey))
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} already exists.", ex);
        }
    }

    private static async Task UpdateDeploymentAsync(
        NpgsqlConnection connection, Deployment deployment, CancellationToken cancellationToken)
    {
        var changed = await ExecuteAsync(
            connection,
            $"UPDATE deployments SET ({DeploymentColumns}) = ({DeploymentValues}) WHERE id = @id;",
            cancellationToken,
            DeploymentParameters(deployment));
        if (changed == 0)
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} does not exist, so it cannot be updated.");
        }
    }

    private static NpgsqlParameter[] DeploymentParameters(Deployment deployment) =>
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
        Ticks("created_at", deployment.CreatedAt),
        Ticks("updated_at", deployment.UpdatedAt),
        Ticks("finished_at", deployment.FinishedAt),
        Ticks("safe_at", deployment.SafeAt),

        // Stored so the conflict check and the one-active index follow the model's own definition of active.
        Bool("active", deployment.IsActive),
    ];

    private static bool IsViolationOf(PostgresException exception, string constraint) =>
        exception.SqlState == PostgresErrorCodes.UniqueViolation && exception.ConstraintName == constraint;

    private static string DatabaseName(NpgsqlConnection connection) =>
        $"'{connection.Database}' on {connection.Host}:{connection.Port}";

    private static ServiceRecord ReadService(NpgsqlDataReader reader) => new()
    {
        Name = reader.GetString(0),
        Platform = reader.GetString(1),
        StableRevision = NullableInt(reader, 2),
        DesiredCount = reader.GetInt32(3),
        SpecJson = reader.GetString(4),
        CreatedAt = ReadTime(reader, 5),
        UpdatedAt = ReadTime(reader, 6),
    };

    private static Revision ReadRevision(NpgsqlDataReader reader) => new()
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

    private static Deployment ReadDeployment(NpgsqlDataReader reader) => new()
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

    private static DeploymentEvent ReadEvent(NpgsqlDataReader reader) => new()
    {
        Sequence = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        At = ReadTime(reader, 2),
        Type = reader.GetString(3),
        Message = reader.GetString(4),
        Step = NullableInt(reader, 5),
        DataJson = NullableString(reader, 6),
    };

    private static DeploymentCommand ReadCommand(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        Kind = Enum.Parse<CommandKind>(reader.GetString(2)),
        HookId = NullableString(reader, 3),
        RequestedBy = NullableString(reader, 4),
        At = ReadTime(reader, 5),
    };

    private static JournalEntry ReadJournalEntry(NpgsqlDataReader reader) => new()
    {
        Sequence = reader.GetInt64(0),
        DeploymentId = reader.GetString(1),
        Step = reader.GetInt32(2),
        Phase = Enum.Parse<StepPhase>(reader.GetString(3)),
        Action = reader.GetString(4),
        DetailJson = NullableString(reader, 5),
        At = ReadTime(reader, 6),
    };

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static int? NullableInt(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt32(ordinal);

    private static DateTimeOffset? NullableTime(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : ReadTime(reader, ordinal);

    private static DateTimeOffset ReadTime(NpgsqlDataReader reader, int ordinal) =>
        new(reader.GetInt64(ordinal), TimeSpan.Zero);

    private static NpgsqlParameter Text(string name, string? value) =>
        new(name, NpgsqlDbType.Text) { Value = value ?? (object)DBNull.Value };

    private static NpgsqlParameter Int(string name, int? value) =>
        new(name, NpgsqlDbType.Integer) { Value = value ?? (object)DBNull.Value };

    private static NpgsqlParameter Long(string name, long value) => new(name, NpgsqlDbType.Bigint) { Value = value };

    private static NpgsqlParameter Bool(string name, bool value) => new(name, NpgsqlDbType.Boolean) { Value = value };

    private static NpgsqlParameter Ticks(string name, DateTimeOffset? value) =>
        new(name, NpgsqlDbType.Bigint) { Value = value?.UtcTicks ?? (object)DBNull.Value };

    private static Task LockAsync(NpgsqlConnection connection, int lockClass, string name, CancellationToken cancellationToken) =>
        ExecuteAsync(
            connection,
            "SELECT pg_advisory_xact_lock(@class, hashtext(@name));",
            cancellationToken,
            Int("class", lockClass),
            Text("name", name));

    /// <summary>
    /// Runs a write of a service's deployments under that service's lock, so the conflict check and the write are one
    /// step; the one-active index stays as the backstop for writers that skip the lock.
    /// </summary>
    private async Task WriteDeploymentsAsync(
        string service, Func<NpgsqlConnection, Task> work, CancellationToken cancellationToken)
    {
        try
        {
            await InTransactionAsync(
                async connection =>
                {
                    await LockAsync(connection, DeploymentLock, service, cancellationToken);
                    await work(connection);
                },
                cancellationToken);
        }
        catch (PostgresException ex) when (IsViolationOf(ex, PostgresSchema.OneActiveDeploymentIndex))
        {
            throw await ConflictAsync(service, ignoredId: null, cancellationToken);
        }
    }

    private async Task<DeploymentConflictException> ConflictAsync(
        string service, string? ignoredId, CancellationToken cancellationToken)
    {
        // The failed transaction is gone; a fresh connection names the deployment that won.
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var activeId = await ActiveDeploymentIdAsync(connection, service, ignoredId, cancellationToken);
        return new DeploymentConflictException(service, activeId ?? "(finished since)");
    }

    private Task InTransactionAsync(Func<NpgsqlConnection, Task> work, CancellationToken cancellationToken) =>
        InTransactionAsync(
            async connection =>
            {
                await work(connection);
                return true;
            },
            cancellationToken);

    private async Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);

        // Disposed without a commit, the transaction rolls back, and its advisory locks go with it.
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var result = await work(connection);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    private async Task<IReadOnlyList<T>> QueryAsync<T>(
        string sql,
        Func<NpgsqlDataReader, T> read,
        CancellationToken cancellationToken,
        params NpgsqlParameter[] parameters)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
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
        NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = CreateCommand(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<object?> ScalarAsync(
        NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = CreateCommand(connection, sql, parameters);
        var result = await command.ExecuteScalarAsync(cancellationToken);
        return result is DBNull ? null : result;
    }

    private static NpgsqlCommand CreateCommand(NpgsqlConnection connection, string sql, NpgsqlParameter[] parameters)
    {
        // Npgsql runs a command in the connection's open transaction, if any, without it being assigned.
        var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        return command;
    }
}
