using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Testing;
using Microsoft.Data.Sqlite;

namespace Backstay.State.Sqlite.Tests;

public sealed class SqliteStateStoreTests : StateStoreComplianceTests
{
    private readonly string _directory =
        Path.Combine(Path.GetTempPath(), "backstay-sqlite-tests", Guid.NewGuid().ToString("N"), "state");

    protected override async Task<IStateStore> CreateStoreAsync()
    {
        var store = new SqliteStateStore(_directory, Time);
        await store.InitializeAsync(Ct);
        return store;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        var testRoot = Path.GetDirectoryName(_directory)!;
        if (Directory.Exists(testRoot))
        {
            Directory.Delete(testRoot, recursive: true);
        }
    }

    [Fact]
    public void DatabasePath_StateDirectory_IsBackstayDbInsideIt()
    {
        SqliteStateStore.DatabasePath(_directory).ShouldBe(Path.Combine(_directory, "backstay.db"));
    }

    [Fact]
    public void InitializeAsync_MissingDirectory_CreatesDatabaseFile()
    {
        File.Exists(Path.Combine(_directory, "backstay.db")).ShouldBeTrue();
    }

    [Fact]
    public async Task InitializeAsync_NewDatabase_TurnsOnWalAndSetsSchemaVersion()
    {
        await using var connection = await OpenUnpooledAsync();

        (await ScalarAsync(connection, "PRAGMA journal_mode;")).ShouldBe("wal");
        (await ScalarAsync(connection, "PRAGMA user_version;")).ShouldBe(5L);
    }

    [Fact]
    public async Task InitializeAsync_Version1Database_GainsLeaseGenerationsAndKeepsItsLeases()
    {
        await using (var connection = await OpenUnpooledAsync())
        {
            // A version 1 leases table had no generation column.
            await ScalarAsync(connection, "ALTER TABLE leases DROP COLUMN generation;");
            (await ScalarAsync(connection, "SELECT count(*) FROM pragma_table_info('leases') WHERE name = 'generation';")).ShouldBe(0L);
            await ScalarAsync(connection,
                "INSERT INTO leases (key, owner, expires_at) VALUES ('deployment:old', 'replica-a', '2999-01-01T00:00:00.0000000+00:00');");
            await ScalarAsync(connection, "PRAGMA user_version = 1;");
        }

        // As a new process would: no pooled connection remembers the schema from before.
        SqliteConnection.ClearAllPools();

        await using var store = new SqliteStateStore(_directory, Time);
        await store.InitializeAsync(Ct);

        (await store.GetLeaseGenerationAsync("deployment:old", "replica-a", Ct)).ShouldNotBeNull();
        (await store.TryAcquireLeaseAsync("deployment:old", "replica-b", TimeSpan.FromSeconds(10), Ct)).ShouldBeFalse();
        await using var check = await OpenUnpooledAsync();
        (await ScalarAsync(check, "PRAGMA user_version;")).ShouldBe(5L);
    }

    [Fact]
    public async Task InitializeAsync_Version3Database_GainsTheWarmWindowColumnsAndKeepsItsDeployments()
    {
        await using (var connection = await OpenUnpooledAsync())
        {
            // A version 3 deployments table had no warm window columns (nor their index).
            await ScalarAsync(connection, "DROP INDEX deployments_warm;");
            await ScalarAsync(connection, "ALTER TABLE deployments DROP COLUMN warm_until;");
            await ScalarAsync(connection, "ALTER TABLE deployments DROP COLUMN warm_ended_at;");
            await ScalarAsync(connection, "PRAGMA user_version = 3;");
        }

        SqliteConnection.ClearAllPools();
        await using var store = new SqliteStateStore(_directory, Time);
        await store.InitializeAsync(Ct);

        var warm = Deployment("d-1", "web", Core.Model.DeploymentState.Succeeded) with { StableRevision = 1, WarmUntil = Start.AddMinutes(5) };
        await store.CreateDeploymentAsync(warm, Ct);
        (await store.GetDeploymentAsync("d-1", Ct)).ShouldBe(warm);
        (await store.ListWarmDeploymentsAsync(Ct)).ShouldHaveSingleItem().Id.ShouldBe("d-1");
        await using var check = await OpenUnpooledAsync();
        (await ScalarAsync(check, "PRAGMA user_version;")).ShouldBe(5L);
    }

    [Fact]
    public async Task InitializeAsync_Version4Database_GainsReleases()
    {
        await using (var connection = await OpenUnpooledAsync())
        {
            // A version 4 database had no releases table.
            await ScalarAsync(connection, "DROP TABLE releases;");
            await ScalarAsync(connection, "PRAGMA user_version = 4;");
        }

        SqliteConnection.ClearAllPools();

        await using var store = new SqliteStateStore(_directory, Time);
        await store.InitializeAsync(Ct);

        await store.CreateReleaseAsync(new Core.Releases.Release { Id = "rel-1", Name = "one", Members = [] }, Ct);
        (await store.ListActiveReleasesAsync(Ct)).ShouldHaveSingleItem().Name.ShouldBe("one");
        await using var check = await OpenUnpooledAsync();
        (await ScalarAsync(check, "PRAGMA user_version;")).ShouldBe(5L);
    }

    [Fact]
    public async Task InitializeAsync_Version2Database_GainsChartSeries()
    {
        await using (var connection = await OpenUnpooledAsync())
        {
            // A version 2 database had no series table.
            await ScalarAsync(connection, "DROP TABLE series;");
            await ScalarAsync(connection, "PRAGMA user_version = 2;");
        }

        SqliteConnection.ClearAllPools();

        await using var store = new SqliteStateStore(_directory, Time);
        await store.InitializeAsync(Ct);

        await store.AppendSeriesAsync([new SeriesPoint { DeploymentId = "d-1", At = Time.GetUtcNow(), Revision = 2, Weight = 10, Requests = 5 }], Ct);
        (await store.ListSeriesAsync("d-1", null, Ct)).ShouldHaveSingleItem().Requests.ShouldBe(5);
        await using var check = await OpenUnpooledAsync();
        (await ScalarAsync(check, "PRAGMA user_version;")).ShouldBe(5L);
    }

    [Fact]
    public async Task InitializeAsync_NewerSchemaVersion_ThrowsNamingVersion()
    {
        await using (var connection = await OpenUnpooledAsync())
        {
            await ScalarAsync(connection, "PRAGMA user_version = 99;");
        }

        await using var store = new SqliteStateStore(_directory, Time);
        var exception = await Should.ThrowAsync<InvalidOperationException>(() => store.InitializeAsync(Ct));

        exception.Message.ShouldContain("schema version 99");
    }

    private async Task<SqliteConnection> OpenUnpooledAsync()
    {
        var connection = new SqliteConnection(
            new SqliteConnectionStringBuilder { DataSource = SqliteStateStore.DatabasePath(_directory), Pooling = false }
                .ToString());
        await connection.OpenAsync(Ct);
        return connection;
    }

    private async Task<object?> ScalarAsync(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(Ct);
    }
}
