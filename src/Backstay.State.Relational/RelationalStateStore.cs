// Over 400 lines on purpose: every IStateStore operation in the one SQL both databases run, so that a change to a
// table is made once; what differs between the databases is in the dialect and the two small store classes.
using System.Data.Common;
using System.Globalization;
using Backstay.Core.Model;
using Backstay.Core.Releases;
using Backstay.Core.Ports;
using static Backstay.State.Relational.SqlArg;

namespace Backstay.State.Relational;

/// <summary>
/// The <see cref="IStateStore"/> operations in the SQL that SQLite and PostgreSQL both run. A store supplies its
/// schema, its connections, how a write transaction keeps other writers out, and a <see cref="StoreDialect"/>.
/// </summary>
/// <remarks>
/// Each operation takes its own connection from the store's pool, so a store is safe to share between threads.
/// Parameters are written <c>@name</c>, which Microsoft.Data.Sqlite and Npgsql both bind.
/// </remarks>
public abstract class RelationalStateStore : IStateStore
{
    private readonly StoreDialect _dialect;
    private readonly TableRows _rows;
    private readonly TimeProvider _timeProvider;

    protected RelationalStateStore(StoreDialect dialect, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _dialect = dialect;
        _rows = new TableRows(dialect);
        _timeProvider = timeProvider;
    }

    /// <summary>Creates or upgrades the schema; safe for several processes to run at once.</summary>
    public abstract Task InitializeAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    public Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken) =>
        QuerySingleAsync(
            $"SELECT {_rows.ServiceColumns} FROM services WHERE name = @name;",
            _rows.Service,
            cancellationToken,
            Text("name", name));

    public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {_rows.ServiceColumns} FROM services ORDER BY {_dialect.OrdinalOrder("name")};",
            _rows.Service,
            cancellationToken);

    /// <remarks>The first CreatedAt of a service is kept; every other field is overwritten.</remarks>
    public async Task UpsertServiceAsync(ServiceRecord service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        var updatedAt = _dialect.TimeColumn("updated_at");
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            $"""
            INSERT INTO services ({_rows.ServiceColumns})
            VALUES (@name, @platform, @stable_revision, @desired_count, @spec_json, @created_at, @updated_at)
            ON CONFLICT (name) DO UPDATE SET
                platform = excluded.platform,
                stable_revision = excluded.stable_revision,
                desired_count = excluded.desired_count,
                spec_json = excluded.spec_json,
                {updatedAt} = excluded.{updatedAt};
            """,
            cancellationToken,
            Text("name", service.Name),
            Text("platform", service.Platform),
            Int("stable_revision", service.StableRevision),
            Int("desired_count", service.DesiredCount),
            Text("spec_json", service.SpecJson),
            _dialect.Time("created_at", service.CreatedAt),
            _dialect.Time("updated_at", service.UpdatedAt));
    }

    public async Task<Revision> AddRevisionAsync(Revision revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var number = await InsertNumberedAsync(
            WriteLock.RevisionNumbers,
            revision.Service,
            $"""
            INSERT INTO revisions ({_rows.RevisionColumns})
            SELECT @service, COALESCE(MAX(number), 0) + 1, @image, @digest, @env_json, @port, @task_json,
                   @git_commit, @git_message, @git_author, @git_branch, @git_dirty, @created_at, @removed
            FROM revisions WHERE service = @service
            RETURNING number;
            """,
            cancellationToken,
            Text("service", revision.Service),
            Text("image", revision.Image),
            Text("digest", revision.Digest),
            Text("env_json", BackstayJson.Serialize(revision.Env, BackstayJson.Options)),
            Int("port", revision.Port),
            Text("task_json", revision.TaskJson),
            Text("git_commit", revision.Provenance.Commit),
            Text("git_message", revision.Provenance.Message),
            Text("git_author", revision.Provenance.Author),
            Text("git_branch", revision.Provenance.Branch),
            Bool("git_dirty", revision.Provenance.Dirty),
            _dialect.Time("created_at", revision.CreatedAt),
            Bool("removed", revision.Removed));
        return revision with { Number = checked((int)number) };
    }

    public Task<Revision?> GetRevisionAsync(string service, int number, CancellationToken cancellationToken) =>
        QuerySingleAsync(
            $"SELECT {_rows.RevisionColumns} FROM revisions WHERE service = @service AND number = @number;",
            _rows.Revision,
            cancellationToken,
            Text("service", service),
            Int("number", number));

    public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {_rows.RevisionColumns} FROM revisions WHERE service = @service ORDER BY number DESC;",
            _rows.Revision,
            cancellationToken,
            Text("service", service));

    public async Task MarkRevisionRemovedAsync(string service, int number, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);

        // SQLite reads TRUE as 1, the integer its boolean columns hold.
        var changed = await ExecuteAsync(
            connection,
            "UPDATE revisions SET removed = TRUE WHERE service = @service AND number = @number;",
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

                // The undone deployment first: as RollingBack it leaves PostgreSQL's one-active index before the rollback enters it.
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
            await using var connection = await OpenAsync(cancellationToken);
            await UpdateDeploymentAsync(connection, deployment, cancellationToken);
        }
        catch (DbException ex) when (BreaksOneActiveDeployment(ex))
        {
            throw await ConflictAsync(deployment.Service, deployment.Id, cancellationToken);
        }
    }

    public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken) =>
        QuerySingleAsync(
            $"SELECT {_rows.DeploymentColumns} FROM deployments WHERE id = @id;",
            _rows.Deployment,
            cancellationToken,
            Text("id", id));

    public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(
        string? service, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return QueryAsync(
            $"""
            SELECT {_rows.DeploymentColumns} FROM deployments
            WHERE @service IS NULL OR service = @service
            ORDER BY {_dialect.TimeColumn("created_at")} DESC, {_dialect.InsertionOrder} DESC
            LIMIT @limit;
            """,
            _rows.Deployment,
            cancellationToken,
            Text("service", service),
            Int("limit", limit));
    }

    public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) =>
        QueryAsync(
            $"""
            SELECT {_rows.DeploymentColumns} FROM deployments
            WHERE active = TRUE
            ORDER BY {_dialect.TimeColumn("created_at")}, {_dialect.InsertionOrder};
            """,
            _rows.Deployment,
            cancellationToken);

    public Task<IReadOnlyList<Deployment>> ListWarmDeploymentsAsync(CancellationToken cancellationToken) =>
        QueryAsync(
            $"""
            SELECT {_rows.DeploymentColumns} FROM deployments
            WHERE {_dialect.TimeColumn("warm_until")} IS NOT NULL AND {_dialect.TimeColumn("warm_ended_at")} IS NULL AND state = 'Succeeded'
            ORDER BY {_dialect.TimeColumn("created_at")}, {_dialect.InsertionOrder};
            """,
            _rows.Deployment,
            cancellationToken);

    public async Task<DeploymentEvent> AppendEventAsync(DeploymentEvent deploymentEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deploymentEvent);
        var sequence = await InsertNumberedAsync(
            WriteLock.Events,
            deploymentEvent.DeploymentId,
            $"""
            INSERT INTO events (deployment_id, {_dialect.TimeColumn("at")}, type, message, step, data_json)
            VALUES (@deployment_id, @at, @type, @message, @step, @data_json)
            RETURNING sequence;
            """,
            cancellationToken,
            Text("deployment_id", deploymentEvent.DeploymentId),
            _dialect.Time("at", deploymentEvent.At),
            Text("type", deploymentEvent.Type),
            Text("message", deploymentEvent.Message),
            Int("step", deploymentEvent.Step),
            Text("data_json", deploymentEvent.DataJson));
        return deploymentEvent with { Sequence = sequence };
    }

    public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(
        string deploymentId, long afterSequence, CancellationToken cancellationToken) =>
        QueryAsync(
            $"""
            SELECT {_rows.EventColumns} FROM events
            WHERE deployment_id = @deployment_id AND sequence > @after
            ORDER BY sequence;
            """,
            _rows.Event,
            cancellationToken,
            Text("deployment_id", deploymentId),
            Long("after", afterSequence));

    public async Task<DeploymentCommand> EnqueueCommandAsync(
        DeploymentCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        await using var connection = await OpenAsync(cancellationToken);
        var id = Convert.ToInt64(
            await ScalarAsync(
                connection,
                $"""
                INSERT INTO commands (deployment_id, kind, hook_id, requested_by, {_dialect.TimeColumn("at")})
                VALUES (@deployment_id, @kind, @hook_id, @requested_by, @at)
                RETURNING id;
                """,
                cancellationToken,
                Text("deployment_id", command.DeploymentId),
                Text("kind", command.Kind.ToString()),
                Text("hook_id", command.HookId),
                Text("requested_by", command.RequestedBy),
                _dialect.Time("at", command.At)),
            CultureInfo.InvariantCulture);
        return command with { Id = id };
    }

    public async Task<IReadOnlyList<DeploymentCommand>> TakeCommandsAsync(
        string deploymentId, CancellationToken cancellationToken)
    {
        // One DELETE ... RETURNING statement, so two processes can never take the same command: SQLite has one writer,
        // and a concurrent PostgreSQL DELETE waits on the row locks, then skips the rows gone.
        var taken = await QueryAsync(
            $"DELETE FROM commands WHERE deployment_id = @deployment_id RETURNING {_rows.CommandColumns};",
            _rows.Command,
            cancellationToken,
            Text("deployment_id", deploymentId));
        return [.. taken.OrderBy(command => command.Id)];
    }

    public async Task AppendJournalAsync(JournalEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            $"""
            INSERT INTO journal (deployment_id, step, phase, action, detail_json, {_dialect.TimeColumn("at")})
            VALUES (@deployment_id, @step, @phase, @action, @detail_json, @at);
            """,
            cancellationToken,
            Text("deployment_id", entry.DeploymentId),
            Int("step", entry.Step),
            Text("phase", entry.Phase.ToString()),
            Text("action", entry.Action),
            Text("detail_json", entry.DetailJson),
            _dialect.Time("at", entry.At));
    }

    public Task<IReadOnlyList<JournalEntry>> ListJournalAsync(
        string deploymentId, CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT {_rows.JournalColumns} FROM journal WHERE deployment_id = @deployment_id ORDER BY sequence;",
            _rows.JournalEntry,
            cancellationToken,
            Text("deployment_id", deploymentId));

    public async Task<bool> TryAcquireLeaseAsync(
        string key, string owner, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        var now = _timeProvider.GetUtcNow();
        var expiresAt = _dialect.TimeColumn("expires_at");
        await using var connection = await OpenAsync(cancellationToken);

        // One statement: the row is written only when it is free, ours, or expired, and the change count says which.
        // SQLite has one writer; PostgreSQL's ON CONFLICT locks the existing row and evaluates the WHERE on its latest version.
        var changed = await ExecuteAsync(
            connection,
            $"""
            INSERT INTO leases (key, owner, {expiresAt}, generation) VALUES (@key, @owner, @expires_at, 1)
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, {expiresAt} = excluded.{expiresAt},
                generation = CASE WHEN leases.owner = excluded.owner AND leases.{expiresAt} > @now THEN leases.generation ELSE leases.generation + 1 END
            WHERE leases.owner = excluded.owner OR leases.{expiresAt} <= @now;
            """,
            cancellationToken,
            Text("key", key),
            Text("owner", owner),
            _dialect.Time("expires_at", now + ttl),
            _dialect.Time("now", now));
        return changed == 1;
    }

    public async Task ReleaseLeaseAsync(string key, string owner, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);

        // Expired rather than deleted: the row keeps the generation, so the next holder's is higher.
        await ExecuteAsync(
            connection,
            $"UPDATE leases SET {_dialect.TimeColumn("expires_at")} = @expired WHERE key = @key AND owner = @owner;",
            cancellationToken,
            Text("key", key),
            Text("owner", owner),
            _dialect.Time("expired", DateTimeOffset.MinValue));
    }

    public async Task<long?> GetLeaseGenerationAsync(string key, string owner, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var generation = await ScalarAsync(
            connection,
            $"SELECT generation FROM leases WHERE key = @key AND owner = @owner AND {_dialect.TimeColumn("expires_at")} > @now;",
            cancellationToken,
            Text("key", key),
            Text("owner", owner),
            _dialect.Time("now", _timeProvider.GetUtcNow()));
        return generation is null ? null : Convert.ToInt64(generation, CultureInfo.InvariantCulture);
    }

    public async Task SaveHookRunAsync(HookRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            """
            INSERT INTO hook_runs (id, deployment_id, json) VALUES (@id, @deployment_id, @json)
            ON CONFLICT (id) DO UPDATE SET json = excluded.json;
            """,
            cancellationToken,
            Text("id", run.Id),
            Text("deployment_id", run.DeploymentId),
            Text("json", TableRows.Document(run)));
    }

    public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) =>
        QueryAsync(
            $"SELECT json FROM hook_runs WHERE deployment_id = @deployment_id ORDER BY {_dialect.InsertionOrder};",
            TableRows.Document<HookRun>,
            cancellationToken,
            Text("deployment_id", deploymentId));

    public async Task CreateReleaseAsync(Release release, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(release);
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(
            connection,
            "INSERT INTO releases (id, active, version, json) VALUES (@id, @active, @version, @json);",
            cancellationToken,
            Text("id", release.Id),
            Int("active", release.IsActive ? 1 : 0),
            Long("version", release.Version),
            Text("json", TableRows.Document(release)));
    }

    public async Task<bool> UpdateReleaseAsync(Release release, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(release);
        await using var connection = await OpenAsync(cancellationToken);
        return await ExecuteAsync(
            connection,
            "UPDATE releases SET active = @active, version = @next, json = @json WHERE id = @id AND version = @version;",
            cancellationToken,
            Text("id", release.Id),
            Int("active", release.IsActive ? 1 : 0),
            Long("version", release.Version),
            Long("next", release.Version + 1),
            Text("json", TableRows.Document(release with { Version = release.Version + 1 }))) == 1;
    }

    public Task<Release?> GetReleaseAsync(string id, CancellationToken cancellationToken) =>
        QuerySingleAsync("SELECT json FROM releases WHERE id = @id;", TableRows.Document<Release>, cancellationToken, Text("id", id));

    public Task<IReadOnlyList<Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken) =>
        QueryAsync($"SELECT json FROM releases ORDER BY {_dialect.InsertionOrder} DESC LIMIT @limit;", TableRows.Document<Release>, cancellationToken, Int("limit", limit));

    public Task<IReadOnlyList<Release>> ListActiveReleasesAsync(CancellationToken cancellationToken) =>
        QueryAsync($"SELECT json FROM releases WHERE active = 1 ORDER BY {_dialect.InsertionOrder};", TableRows.Document<Release>, cancellationToken);

    public Task SaveObservationAsync(Observation observation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(observation);
        return SaveObservationsAsync([observation], cancellationToken);
    }

    public async Task SaveObservationsAsync(IReadOnlyList<Observation> observations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(observations);
        if (observations.Count == 0)
        {
            return;
        }

        // One transaction for a whole observation pass: a write per service made the pass grow with the services.
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var observation in observations)
        {
            await ExecuteAsync(
                connection,
                """
                INSERT INTO observations (service, json) VALUES (@service, @json)
                ON CONFLICT (service) DO UPDATE SET json = excluded.json;
                """,
                cancellationToken,
                Text("service", observation.Service),
                Text("json", TableRows.Document(observation)));
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public Task<Observation?> GetObservationAsync(string service, CancellationToken cancellationToken) =>
        QuerySingleAsync(
            "SELECT json FROM observations WHERE service = @service;",
            TableRows.Document<Observation>,
            cancellationToken,
            Text("service", service));

    public async Task AppendSeriesAsync(IReadOnlyList<SeriesPoint> points, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0)
        {
            return;
        }

        // One transaction per batch (an evaluation's points of both revisions). The cap is counted, not locked: one
        // runner writes a deployment's points, so two writers never race for its last places.
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var batch in points.GroupBy(p => p.DeploymentId, StringComparer.Ordinal))
        {
            var kept = Convert.ToInt64(
                await ScalarAsync(connection, "SELECT COUNT(*) FROM series WHERE deployment_id = @deployment_id;", cancellationToken, Text("deployment_id", batch.Key)),
                CultureInfo.InvariantCulture);
            foreach (var point in batch.Take((int)Math.Max(0, SeriesPoint.MaxPerDeployment - kept)))
            {
                await ExecuteAsync(
                    connection,
                    $"INSERT INTO series ({_rows.SeriesColumns}) VALUES ({TableRows.SeriesValues});",
                    cancellationToken,
                    _rows.SeriesArgs(point));
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public Task<IReadOnlyList<SeriesPoint>> ListSeriesAsync(string deploymentId, DateTimeOffset? after, CancellationToken cancellationToken)
    {
        var at = _dialect.TimeColumn("at");
        return QueryAsync(
            $"""
            SELECT {_rows.SeriesColumns} FROM series
            WHERE deployment_id = @deployment_id AND (@after IS NULL OR {at} > @after)
            ORDER BY {at}, {_dialect.InsertionOrder};
            """,
            _rows.SeriesPoint,
            cancellationToken,
            Text("deployment_id", deploymentId),
            _dialect.Time("after", after));
    }

    public async Task DeleteSeriesAsync(string deploymentId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "DELETE FROM series WHERE deployment_id = @deployment_id;", cancellationToken, Text("deployment_id", deploymentId));
    }

    /// <summary>An open connection from the store's pool.</summary>
    protected abstract ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Begins a transaction in which no other writer holding the same <paramref name="writeLock"/> and key, in this
    /// process or another, can come between this one's reads and its writes.
    /// </summary>
    protected abstract Task<DbTransaction> BeginWriteAsync(
        DbConnection connection, WriteLock writeLock, string key, CancellationToken cancellationToken);

    /// <summary>Whether an insert into deployments failed because its id is taken.</summary>
    protected abstract bool IsDuplicateDeploymentId(DbException error);

    /// <summary>Whether a write broke a constraint of the schema that allows one active deployment per service.</summary>
    /// <remarks>The check under <see cref="WriteLock.Deployments"/> comes first; such a constraint is the backstop.</remarks>
    protected virtual bool BreaksOneActiveDeployment(DbException error) => false;

    protected static async Task<int> ExecuteAsync(
        DbConnection connection, string sql, CancellationToken cancellationToken, params SqlArg[] args)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var command = CreateCommand(connection, sql, args);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The first column of the first row, or null for none or for SQL NULL.</summary>
    protected static async Task<object?> ScalarAsync(
        DbConnection connection, string sql, CancellationToken cancellationToken, params SqlArg[] args)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var command = CreateCommand(connection, sql, args);
        var result = await command.ExecuteScalarAsync(cancellationToken);
        return result is DBNull ? null : result;
    }

    private static DbCommand CreateCommand(DbConnection connection, string sql, SqlArg[] args)
    {
        // Both providers run a command in the connection's open transaction, if any, without it being assigned.
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var arg in args)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + arg.Name;
            parameter.DbType = arg.Type;
            parameter.Value = arg.Value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private async Task<IReadOnlyList<T>> QueryAsync<T>(
        string sql, Func<DbDataReader, T> read, CancellationToken cancellationToken, params SqlArg[] args)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = CreateCommand(connection, sql, args);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    /// <summary>The row a query by primary key finds, or null.</summary>
    private async Task<T?> QuerySingleAsync<T>(
        string sql, Func<DbDataReader, T> read, CancellationToken cancellationToken, params SqlArg[] args)
        where T : class =>
        (await QueryAsync(sql, read, cancellationToken, args)).SingleOrDefault();

    private async Task<T> WriteAsync<T>(
        WriteLock writeLock, string key, Func<DbConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);

        // Disposed without a commit, the transaction rolls back, and whatever it locked is let go.
        await using var transaction = await BeginWriteAsync(connection, writeLock, key, cancellationToken);
        var result = await work(connection);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>Runs an INSERT ... RETURNING of the number the database gave the row, under a write lock.</summary>
    private Task<long> InsertNumberedAsync(
        WriteLock writeLock, string key, string sql, CancellationToken cancellationToken, params SqlArg[] args) =>
        WriteAsync(
            writeLock,
            key,
            async connection => Convert.ToInt64(
                await ScalarAsync(connection, sql, cancellationToken, args), CultureInfo.InvariantCulture),
            cancellationToken);

    /// <summary>Writes a service's deployments with the conflict check and the write as one step.</summary>
    private async Task WriteDeploymentsAsync(
        string service, Func<DbConnection, Task> work, CancellationToken cancellationToken)
    {
        try
        {
            await WriteAsync(
                WriteLock.Deployments,
                service,
                async connection =>
                {
                    await work(connection);
                    return true;
                },
                cancellationToken);
        }
        catch (DbException ex) when (BreaksOneActiveDeployment(ex))
        {
            throw await ConflictAsync(service, ignoredId: null, cancellationToken);
        }
    }

    private async Task ThrowIfConflictAsync(
        DbConnection connection, string service, string? ignoredId, CancellationToken cancellationToken)
    {
        if (await ActiveDeploymentIdAsync(connection, service, ignoredId, cancellationToken) is { } id)
        {
            throw new DeploymentConflictException(service, id);
        }
    }

    private async Task<DeploymentConflictException> ConflictAsync(
        string service, string? ignoredId, CancellationToken cancellationToken)
    {
        // The failed transaction is gone; a fresh connection names the deployment that won.
        await using var connection = await OpenAsync(cancellationToken);
        var activeId = await ActiveDeploymentIdAsync(connection, service, ignoredId, cancellationToken);
        return new DeploymentConflictException(service, activeId ?? "(finished since)");
    }

    private async Task<string?> ActiveDeploymentIdAsync(
        DbConnection connection, string service, string? ignoredId, CancellationToken cancellationToken) =>
        await ScalarAsync(
            connection,
            $"""
            SELECT id FROM deployments
            WHERE service = @service AND active = TRUE AND (@ignored IS NULL OR id <> @ignored)
            ORDER BY {_dialect.TimeColumn("created_at")}, {_dialect.InsertionOrder}
            LIMIT 1;
            """,
            cancellationToken,
            Text("service", service),
            Text("ignored", ignoredId)) as string;

    private async Task InsertDeploymentAsync(
        DbConnection connection, Deployment deployment, CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync(
                connection,
                $"INSERT INTO deployments ({_rows.DeploymentColumns}) VALUES ({_rows.DeploymentValues});",
                cancellationToken,
                _rows.DeploymentArgs(deployment));
        }
        catch (DbException ex) when (IsDuplicateDeploymentId(ex))
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} already exists.", ex);
        }
    }

    private async Task UpdateDeploymentAsync(
        DbConnection connection, Deployment deployment, CancellationToken cancellationToken)
    {
        var changed = await ExecuteAsync(
            connection,
            $"UPDATE deployments SET ({_rows.DeploymentColumns}) = ({_rows.DeploymentValues}) WHERE id = @id;",
            cancellationToken,
            _rows.DeploymentArgs(deployment));
        if (changed == 0)
        {
            throw new InvalidOperationException($"Deployment {deployment.Id} does not exist, so it cannot be updated.");
        }
    }
}
