using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Testing;
using Npgsql;

namespace Backstay.State.Postgres.Tests;

/// <summary>The shared compliance suite, and what only PostgreSQL has, each test on a database of its own.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStateStoreTests(PostgresServer server) : StateStoreComplianceTests
{
    private string? _connectionString;

    public override async Task InitializeAsync()
    {
        _connectionString = await server.CreateDatabaseAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            if (_connectionString is not null)
            {
                await server.DropDatabaseAsync(_connectionString);
            }
        }
    }

    protected override async Task<IStateStore> CreateStoreAsync()
    {
        var store = new PostgresStateStore(_connectionString!, Time);
        await store.InitializeAsync(Ct);
        return store;
    }

    [Fact]
    public async Task InitializeAsync_NewDatabase_SetsSchemaVersion()
    {
        (await ScalarAsync("SELECT version FROM schema_version;")).ShouldBe(5);
    }

    [Fact]
    public async Task InitializeAsync_Version1Database_GainsLeaseGenerationsAndKeepsItsLeases()
    {
        // A version 1 leases table had no generation column.
        await ScalarAsync("ALTER TABLE leases DROP COLUMN generation;");
        await ScalarAsync("INSERT INTO leases (key, owner, expires_at_ticks) VALUES ('deployment:old', 'replica-a', 3155378975999999999);");
        await ScalarAsync("UPDATE schema_version SET version = 1;");

        await using var store = new PostgresStateStore(_connectionString!, Time);
        await store.InitializeAsync(Ct);

        (await store.GetLeaseGenerationAsync("deployment:old", "replica-a", Ct)).ShouldNotBeNull();
        (await store.TryAcquireLeaseAsync("deployment:old", "replica-b", TimeSpan.FromSeconds(10), Ct)).ShouldBeFalse();
        (await ScalarAsync("SELECT version FROM schema_version;")).ShouldBe(5);
    }

    [Fact]
    public async Task InitializeAsync_Version3Database_GainsTheWarmWindowColumnsAndKeepsItsDeployments()
    {
        // A version 3 deployments table had no warm window columns (nor their index).
        await ScalarAsync("DROP INDEX deployments_warm;");
        await ScalarAsync("ALTER TABLE deployments DROP COLUMN warm_until_ticks;");
        await ScalarAsync("ALTER TABLE deployments DROP COLUMN warm_ended_at_ticks;");
        await ScalarAsync("UPDATE schema_version SET version = 3;");

        await using var store = new PostgresStateStore(_connectionString!, Time);
        await store.InitializeAsync(Ct);

        var warm = Deployment("d-1", "web", DeploymentState.Succeeded) with { StableRevision = 1, WarmUntil = Start.AddMinutes(5) };
        await store.CreateDeploymentAsync(warm, Ct);
        (await store.GetDeploymentAsync("d-1", Ct)).ShouldBe(warm);
        (await store.ListWarmDeploymentsAsync(Ct)).ShouldHaveSingleItem().Id.ShouldBe("d-1");
        (await ScalarAsync("SELECT version FROM schema_version;")).ShouldBe(5);
    }

    [Fact]
    public async Task InitializeAsync_Version4Database_GainsReleases()
    {
        // A version 4 database had no releases table.
        await ScalarAsync("DROP TABLE releases;");
        await ScalarAsync("UPDATE schema_version SET version = 4;");

        await using var store = new PostgresStateStore(_connectionString!, Time);
        await store.InitializeAsync(Ct);

        await store.CreateReleaseAsync(new Core.Releases.Release { Id = "rel-1", Name = "one", Members = [] }, Ct);
        (await store.ListActiveReleasesAsync(Ct)).ShouldHaveSingleItem().Name.ShouldBe("one");
        (await ScalarAsync("SELECT version FROM schema_version;")).ShouldBe(5);
    }

    [Fact]
    public async Task InitializeAsync_Version2Database_GainsChartSeries()
    {
        // A version 2 database had no series table.
        await ScalarAsync("DROP TABLE series;");
        await ScalarAsync("UPDATE schema_version SET version = 2;");

        await using var store = new PostgresStateStore(_connectionString!, Time);
        await store.InitializeAsync(Ct);

        await store.AppendSeriesAsync([new SeriesPoint { DeploymentId = "d-1", At = Time.GetUtcNow(), Revision = 2, Weight = 10, Requests = 5 }], Ct);
        (await store.ListSeriesAsync("d-1", null, Ct)).ShouldHaveSingleItem().Requests.ShouldBe(5);
        (await ScalarAsync("SELECT version FROM schema_version;")).ShouldBe(5);
    }

    [Fact]
    public async Task InitializeAsync_NewerSchemaVersion_ThrowsNamingVersion()
    {
        await ScalarAsync("UPDATE schema_version SET version = 99;");

        await using var store = new PostgresStateStore(_connectionString!, Time);
        var exception = await Should.ThrowAsync<InvalidOperationException>(() => store.InitializeAsync(Ct));

        exception.Message.ShouldContain("schema version 99");
    }

    [Fact]
    public async Task InitializeAsync_FourReplicasStartTogetherOnEmptyDatabase_AllSucceed()
    {
        var empty = await server.CreateDatabaseAsync();
        try
        {
            var stores = Enumerable.Range(0, 4).Select(_ => new PostgresStateStore(empty, Time)).ToList();

            await RunTogetherAsync([.. stores.Select(store => (Func<Task<bool>>)(async () =>
            {
                await store.InitializeAsync(Ct);
                return true;
            }))]);

            await stores[0].UpsertServiceAsync(Service("web"), Ct);
            (await stores[3].GetServiceAsync("web", Ct)).ShouldBe(Service("web"));
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
        finally
        {
            await server.DropDatabaseAsync(empty);
        }
    }

    [Fact]
    public async Task CreateDeploymentAsync_TwoStoresRaceForEachService_ExactlyOneWinsEach()
    {
        const int Services = 25;
        await using var other = await CreateStoreAsync();

        async Task<List<string>> CreateAll(IStateStore store, string replica)
        {
            var won = new List<string>();
            for (var i = 0; i < Services; i++)
            {
                try
                {
                    await store.CreateDeploymentAsync(Deployment($"d-{replica}-{i}", $"svc-{i}", DeploymentState.InProgress), Ct);
                    won.Add($"svc-{i}");
                }
                catch (DeploymentConflictException conflict)
                {
                    conflict.ActiveDeploymentId.ShouldStartWith("d-");
                    conflict.ActiveDeploymentId.ShouldNotContain($"d-{replica}-");
                }
            }

            return won;
        }

        var won = await RunTogetherAsync(() => CreateAll(Store, "a"), () => CreateAll(other, "b"));

        won.SelectMany(services => services).Order().ShouldBe(Enumerable.Range(0, Services).Select(i => $"svc-{i}").Order());
        (await Store.ListActiveDeploymentsAsync(Ct)).Count.ShouldBe(Services);
    }

    [Fact]
    public async Task UpdateDeploymentAsync_WouldMakeSecondActiveDeployment_ThrowsConflictAndKeepsRow()
    {
        var finished = Deployment("d-1", "web", DeploymentState.Succeeded);
        await Store.CreateDeploymentAsync(finished, Ct);
        await Store.CreateDeploymentAsync(Deployment("d-2", "web", DeploymentState.InProgress), Ct);

        var exception = await Should.ThrowAsync<DeploymentConflictException>(
            () => Store.UpdateDeploymentAsync(finished with { State = DeploymentState.InProgress }, Ct));

        exception.ActiveDeploymentId.ShouldBe("d-2");
        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(finished);
    }

    [Fact]
    public async Task CreateDeploymentAsync_ExtremeTimestamps_RoundTripEveryTick()
    {
        var deployment = Deployment("d-1", "web") with
        {
            CreatedAt = DateTimeOffset.MinValue,
            UpdatedAt = DateTimeOffset.MaxValue,
            FinishedAt = new DateTimeOffset(1999, 12, 31, 23, 59, 59, TimeSpan.FromHours(-8)).AddTicks(9_999_999),
        };

        await Store.CreateDeploymentAsync(deployment, Ct);

        (await Store.GetDeploymentAsync("d-1", Ct)).ShouldBe(deployment);
    }

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(Ct);
    }
}
