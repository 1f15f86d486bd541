using System.Data.Common;
using System.Globalization;
using Backstay.Core.Ports;
using Backstay.State.Relational;
using Microsoft.Data.Sqlite;

namespace Backstay.State.Sqlite;

/// <summary>An <see cref="IStateStore"/> in one SQLite file that several processes may use at once.</summary>
/// <remarks>
/// The operations are <see cref="RelationalStateStore"/>'s; this class holds the file, its pool and its schema. SQLite has
/// one writer at a time, so a write transaction that begins IMMEDIATE keeps every other writer out until it ends.
/// </remarks>
public sealed class SqliteStateStore : RelationalStateStore
{
    private const int BusyTimeoutSeconds = 5;

    // Both settings belong to the connection: wait (as long as BusyTimeoutSeconds) for another process's
    // writer instead of failing, and sync less often, which WAL makes safe against corruption.
    private const string ConnectionPragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";

    private readonly string _stateDirectory;
    private readonly string _connectionString;

    public SqliteStateStore(string stateDirectory, TimeProvider timeProvider)
        : base(SqliteDialect.Instance, timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stateDirectory);
        _stateDirectory = Path.GetFullPath(stateDirectory);
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

    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_stateDirectory);
        await using var connection = await OpenSqliteAsync(cancellationToken);

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

        // A version 1, 2 or 3 deployments table has no warm window columns; SQLite cannot add a column "if not exists".
        if (version is >= 1 and <= 3 && Convert.ToInt64(await ScalarAsync(connection,
                "SELECT count(*) FROM pragma_table_info('deployments') WHERE name = 'warm_until';", cancellationToken), CultureInfo.InvariantCulture) == 0)
        {
            await ExecuteAsync(connection, SqliteSchema.FromVersion3, cancellationToken);
        }

        await ExecuteAsync(connection, SqliteSchema.Script, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public override ValueTask DisposeAsync()
    {
        // Pooled connections keep the file (and its -wal and -shm files) open until the pool lets them go.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    protected override async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await OpenSqliteAsync(cancellationToken);

    /// <remarks>
    /// BEGIN IMMEDIATE takes the database's write lock before the first read, so a read-then-write cannot interleave
    /// with another process's write, whatever it writes; the lock and key need nothing more.
    /// </remarks>
    protected override Task<DbTransaction> BeginWriteAsync(
        DbConnection connection, WriteLock writeLock, string key, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    protected override bool IsDuplicateDeploymentId(DbException error) =>
        error is SqliteException { SqliteExtendedErrorCode: SQLitePCL.raw.SQLITE_CONSTRAINT_PRIMARYKEY };

    private async Task<SqliteConnection> OpenSqliteAsync(CancellationToken cancellationToken)
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
}
