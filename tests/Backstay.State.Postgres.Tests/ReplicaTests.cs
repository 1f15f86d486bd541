using Backstay.Core.Model;
using Backstay.Testing;

namespace Backstay.State.Postgres.Tests;

/// <summary>Several `backstay serve` replicas on one database, each with a store of its own; the clock is the test's.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ReplicaTests(PostgresServer server) : IAsyncLifetime
{
    private const string Key = "service:web";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _timeout = new(Timeout);
    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly List<PostgresStateStore> _stores = [];
    private string? _connectionString;

    private CancellationToken Ct => _timeout.Token;

    public async Task InitializeAsync() => _connectionString = await server.CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        try
        {
            foreach (var store in _stores)
            {
                await store.DisposeAsync();
            }
        }
        finally
        {
            if (_connectionString is not null)
            {
                await server.DropDatabaseAsync(_connectionString);
            }

            _timeout.Dispose();
        }
    }

    [Fact]
    public async Task TryAcquireLeaseAsync_HolderStopsRenewing_OtherReplicaTakesOverOnlyAfterExpiry()
    {
        var first = await ReplicaAsync();
        var second = await ReplicaAsync();
        (await first.TryAcquireLeaseAsync(Key, "replica-1", Ttl, Ct)).ShouldBeTrue();

        // Renewing at a third of the TTL, as the engine does, keeps the lease however long the deployment runs.
        for (var i = 0; i < 5; i++)
        {
            _time.Advance(Ttl / 3);
            (await first.TryAcquireLeaseAsync(Key, "replica-1", Ttl, Ct)).ShouldBeTrue();
            (await second.TryAcquireLeaseAsync(Key, "replica-2", Ttl, Ct)).ShouldBeFalse();
        }

        // The first replica dies: its connections close and it renews no more.
        await first.DisposeAsync();
        _stores.Remove(first);
        _time.Advance(Ttl - TimeSpan.FromMilliseconds(1));
        (await second.TryAcquireLeaseAsync(Key, "replica-2", Ttl, Ct)).ShouldBeFalse();

        _time.Advance(TimeSpan.FromMilliseconds(1));
        (await second.TryAcquireLeaseAsync(Key, "replica-2", Ttl, Ct)).ShouldBeTrue();

        // Back from the dead, the first replica neither renews nor releases what is no longer its lease.
        var restarted = await ReplicaAsync();
        (await restarted.TryAcquireLeaseAsync(Key, "replica-1", Ttl, Ct)).ShouldBeFalse();
        await restarted.ReleaseLeaseAsync(Key, "replica-1", Ct);
        _time.Advance(Ttl / 3);
        (await second.TryAcquireLeaseAsync(Key, "replica-2", Ttl, Ct)).ShouldBeTrue();
        (await restarted.TryAcquireLeaseAsync(Key, "replica-1", Ttl, Ct)).ShouldBeFalse();
    }

    [Fact]
    public async Task TryAcquireLeaseAsync_FourReplicasRaceForExpiredLeases_ExactlyOneWinsEach()
    {
        const int Keys = 25;
        var replicas = new List<PostgresStateStore>();
        for (var i = 0; i < 4; i++)
        {
            replicas.Add(await ReplicaAsync());
        }

        for (var k = 0; k < Keys; k++)
        {
            (await replicas[0].TryAcquireLeaseAsync($"service:s{k}", "dead", Ttl, Ct)).ShouldBeTrue();
        }

        _time.Advance(Ttl);

        async Task<List<string>> AcquireAll(PostgresStateStore store, string owner)
        {
            var won = new List<string>();
            for (var k = 0; k < Keys; k++)
            {
                if (await store.TryAcquireLeaseAsync($"service:s{k}", owner, Ttl, Ct))
                {
                    won.Add($"service:s{k}");
                }
            }

            return won;
        }

        var won = await RunTogetherAsync([.. replicas.Select((store, i) => (Func<Task<List<string>>>)(() => AcquireAll(store, $"replica-{i}")))]);

        won.SelectMany(keys => keys).Order().ShouldBe(Enumerable.Range(0, Keys).Select(k => $"service:s{k}").Order());
    }

    [Fact]
    public async Task AddRevisionAsync_FourReplicasTwoServicesAtOnce_NumbersEachServiceWithoutGapsOrRepeats()
    {
        const int PerReplica = 40;
        var replicas = new List<PostgresStateStore>();
        for (var i = 0; i < 4; i++)
        {
            replicas.Add(await ReplicaAsync());
        }

        async Task<List<(string Service, int Number)>> AddMany(PostgresStateStore store)
        {
            var added = new List<(string, int)>();
            for (var i = 0; i < PerReplica; i++)
            {
                var revision = await store.AddRevisionAsync(
                    new Revision { Service = i % 2 == 0 ? "web" : "api", Image = "web:1", CreatedAt = _time.GetUtcNow() }, Ct);
                added.Add((revision.Service, revision.Number));
            }

            return added;
        }

        var added = (await RunTogetherAsync([.. replicas.Select(store => (Func<Task<List<(string Service, int Number)>>>)(() => AddMany(store)))]))
            .SelectMany(numbers => numbers)
            .ToList();

        foreach (var service in new[] { "web", "api" })
        {
            var expected = Enumerable.Range(1, 2 * PerReplica).ToList();
            added.Where(a => a.Service == service).Select(a => a.Number).Order().ShouldBe(expected);
            (await replicas[0].ListRevisionsAsync(service, Ct)).Select(r => r.Number).ShouldBe(Enumerable.Reverse(expected));
        }
    }

    private async Task<PostgresStateStore> ReplicaAsync()
    {
        var store = new PostgresStateStore(_connectionString!, _time);
        _stores.Add(store);
        await store.InitializeAsync(Ct);
        return store;
    }

    private static Task<T[]> RunTogetherAsync<T>(params Func<Task<T>>[] work) => Concurrently.RunAsync(Timeout, work);
}
