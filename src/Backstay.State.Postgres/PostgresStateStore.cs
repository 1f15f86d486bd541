using System.Data.Common;
using Backstay.Core.Ports;
using Backstay.State.Relational;
using Npgsql;
using static Backstay.State.Relational.SqlArg;

namespace Backstay.State.Postgres;

/// <summary>An <see cref="IStateStore"/> in a PostgreSQL database that several Backstay replicas share.</summary>
/// <remarks>
/// The operations are <see cref="RelationalStateStore"/>'s; this class holds the pooled data source and the schema.
/// Writes that read before they write serialize on transaction-scoped advisory locks, keyed by service or deployment,
/// so they behave as SQLite's single writer does without locking whole tables.
/// </remarks>
public sealed class PostgresStateStore : RelationalStateStore
{
    // First key of the two-key advisory locks: one class per kind of serialized write, the second key hashes the name.
    // Replicas of different versions share them, so the values never change.
    private const int SchemaLock = 0x4273_0000;
    private const int RevisionNumberLock = 0x4273_0001;
    private const int DeploymentLock = 0x4273_0002;
    private const int EventLock = 0x4273_0003;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresStateStore(string connectionString, TimeProvider timeProvider)
        : base(PostgresDialect.Instance, timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // CREATE ... IF NOT EXISTS is not safe against itself: replicas starting together take turns.
        await ExecuteAsync(
            connection, "SELECT pg_advisory_xact_lock(@class, 0);", cancellationToken, Int("class", SchemaLock));
        await ExecuteAsync(connection, PostgresSchema.VersionTable, cancellationToken);
        var version = await ScalarAsync(connection, "SELECT version FROM schema_version;", cancellationToken);
        if (version is int stored && stored > PostgresSchema.Version)
        {
            throw new InvalidOperationException(
                $"The state database '{connection.Database}' on {connection.Host}:{connection.Port} has schema version "
                + $"{stored}, but this Backstay knows only up to {PostgresSchema.Version}; upgrade Backstay or use another database.");
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
        await transaction.CommitAsync(cancellationToken);
    }

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    protected override async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    protected override async Task<DbTransaction> BeginWriteAsync(
        DbConnection connection, WriteLock writeLock, string key, CancellationToken cancellationToken)
    {
        var lockClass = writeLock switch
        {
            WriteLock.RevisionNumbers => RevisionNumberLock,
            WriteLock.Deployments => DeploymentLock,
            WriteLock.Events => EventLock,
            _ => throw new ArgumentOutOfRangeException(nameof(writeLock), writeLock, "No advisory lock class for this write."),
        };
        var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            // Held until the transaction ends, committed or rolled back.
            await ExecuteAsync(
                connection,
                "SELECT pg_advisory_xact_lock(@class, hashtext(@name));",
                cancellationToken,
                Int("class", lockClass),
                Text("name", key));
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    protected override bool IsDuplicateDeploymentId(DbException error) =>
        IsViolationOf(error, PostgresSchema.DeploymentsPrimaryKey);

    protected override bool BreaksOneActiveDeployment(DbException error) =>
        IsViolationOf(error, PostgresSchema.OneActiveDeploymentIndex);

    private static bool IsViolationOf(DbException error, string constraint) =>
        error is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } violation
        && violation.ConstraintName == constraint;
}
