using System.Runtime.ExceptionServices;
using Backstay.Core.Ports;
using Backstay.Platform.Ecs;
using Backstay.Platform.Local;
using Backstay.Server.Hosting;
using Backstay.State.Postgres;
using Backstay.State.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstay.Cli.Runtime;

/// <summary>
/// Backstay in one process, assembled in one place: the store, the platforms (behind a router when there are several),
/// the image resolvers, the deployment engine and the control plane. `serve`, `demo` and the commands that run
/// deployments without a controller each start one with the options that differ; it disposes what it made, last
/// made first.
/// </summary>
internal sealed partial class BackstayRuntime : IAsyncDisposable
{
    private const string SharedStoreHint = "a controller on a shared PostgreSQL store runs ECS services only, because the local platform's instances live on one machine; deploy local services with `backstay serve` on a SQLite state directory (without --postgres)";

    private readonly BackstayRuntimeOptions _options;
    private readonly Stack<IAsyncDisposable> _owned;
    private readonly EcsPlatform? _ecs;
    private readonly DeploymentEngine? _engine;

    private BackstayRuntime(BackstayRuntimeOptions options, Stack<IAsyncDisposable> owned, EcsPlatform? ecs, DeploymentEngine? engine)
    {
        _options = options;
        _owned = owned;
        _ecs = ecs;
        _engine = engine;
    }

    public required IStateStore Store { get; init; }

    public required InProcessControlPlane Control { get; init; }

    /// <summary>Amazon ECS as this runtime runs it (its AWS calls counted).</summary>
    public EcsPlatform Ecs => _ecs ?? throw new InvalidOperationException($"This runtime runs no ECS platform; set {nameof(BackstayRuntimeOptions.Ecs)}.");

    /// <summary>The deployment engine, not yet running: the caller runs it (directly, or as the controller's hosted service).</summary>
    public DeploymentEngine Engine => _engine ?? throw new InvalidOperationException($"This runtime has no engine; give {nameof(BackstayRuntimeOptions.EngineOwner)}.");

    /// <summary>The services the local platform brought back to their records when it started.</summary>
    public IReadOnlyList<string> Restored { get; init; } = [];

    public static async Task<BackstayRuntime> StartAsync(BackstayRuntimeOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var owned = new Stack<IAsyncDisposable>();
        try
        {
            var store = await OpenStoreAsync(options.Store, options.Time, owned, cancellationToken);
            var local = options.LocalPlatform ? Own(owned, await StartLocalAsync(options, store, owned, cancellationToken)) : null;
            IReadOnlyList<string> restored = local is null ? [] : await ServiceRestorer.RestoreAsync(store, local, cancellationToken);
            var ecs = options.Ecs ? Own(owned, new EcsPlatform(new EcsPlatformOptions { Region = options.Region }, options.Time, options.EcsLog)) : null;
            var platform = Route(options, store, [.. new IPlatform?[] { local, ecs }.OfType<IPlatform>()]);
            var engine = options.EngineOwner is { } owner ? CreateEngine(options, owner, store, platform) : null;
            var images = Own(owned, new ImageResolvers(options.Region, options.Time));
            return new BackstayRuntime(options, owned, ecs, engine)
            {
                Store = store,
                Control = Own(owned, new InProcessControlPlane(store, options.Time, images, options.ControllerRunning, ownsStore: false, platform)),
                Restored = restored,
            };
        }
        catch
        {
            await DisposeAllAsync(owned);
            throw;
        }
    }

    /// <summary>
    /// Starts a runtime that runs Amazon ECS on this runtime's store, which this one keeps: for a command that works on
    /// ECS services itself, with AWS calls counted apart from any other such runtime.
    /// </summary>
    /// <param name="engineOwner">Who its engine runs deployments as; null makes no engine.</param>
    public Task<BackstayRuntime> StartEcsAsync(ILogger? ecsLog, string? engineOwner, CancellationToken cancellationToken) =>
        StartAsync(_options with { Store = new RuntimeStore.Borrowed(Store), LocalPlatform = false, Ecs = true, EcsLog = ecsLog, EngineOwner = engineOwner }, cancellationToken);

    public ValueTask DisposeAsync() => DisposeAllAsync(_owned);

    private static T Own<T>(Stack<IAsyncDisposable> owned, T part)
        where T : IAsyncDisposable
    {
        owned.Push(part);
        return part;
    }

    private static async Task<IStateStore> OpenStoreAsync(RuntimeStore choice, TimeProvider time, Stack<IAsyncDisposable> owned, CancellationToken cancellationToken)
    {
        if (choice is RuntimeStore.Borrowed borrowed)
        {
            return borrowed.Store;
        }

        var store = Own(owned, choice switch
        {
            RuntimeStore.Sqlite sqlite => OpenSqlite(sqlite.StateDirectory, time),
            RuntimeStore.Postgres postgres => new PostgresStateStore(postgres.ConnectionString, time),
            _ => throw new ArgumentOutOfRangeException(nameof(choice), choice, "Unknown store."),
        });
        await store.InitializeAsync(cancellationToken);
        return store;
    }

    private static IStateStore OpenSqlite(string stateDirectory, TimeProvider time)
    {
        StateFiles.CreateDirectory(stateDirectory);
        return new SqliteStateStore(stateDirectory, time);
    }

    private static async Task<LocalPlatform> StartLocalAsync(BackstayRuntimeOptions options, IStateStore store, Stack<IAsyncDisposable> owned,
        CancellationToken cancellationToken)
    {
        var stateDirectory = (options.Store as RuntimeStore.Sqlite)?.StateDirectory
            ?? throw new ArgumentException("The local platform keeps its instances in the state directory of a SQLite store, on this machine.", nameof(options));
        Action<PlatformEvent>? onEvent = null;
        if (options.RecordPlatformEvents)
        {
            var log = options.Log ?? NullLogger.Instance;
            var recorder = Own(owned, new PlatformEventRecorder(store, log));
            recorder.Start();
            onEvent = e =>
            {
                PlatformEventLogged(log, e);
                recorder.Post(e);
            };
        }

        return await LocalPlatform.StartAsync(new LocalPlatformOptions
        {
            StateDirectory = stateDirectory,
            BuiltinImages = Builtins.Images,
            OnEvent = onEvent,
        }, options.Time, cancellationToken);
    }

    /// <summary>
    /// One platform is used as it is. Several go behind a router, as does the one of a controller on a shared store,
    /// which must refuse local services with the reason rather than hand them to ECS.
    /// </summary>
    private static IPlatform? Route(BackstayRuntimeOptions options, IStateStore store, IReadOnlyList<IPlatform> platforms)
    {
        var hint = !options.LocalPlatform && options.Store is RuntimeStore.Postgres ? SharedStoreHint : null;
        if (platforms.Count == 0 || (platforms.Count == 1 && hint is null))
        {
            return platforms.SingleOrDefault();
        }

        return new PlatformRouter(platforms, async (service, ct) =>
            await store.GetServiceAsync(service, ct) is { } record ? BackstayJson.Deserialize<ServiceSpec>(record.SpecJson, BackstayJson.Options) : null)
        {
            NotRunHint = hint,
        };
    }

    private static DeploymentEngine CreateEngine(BackstayRuntimeOptions options, string owner, IStateStore store, IPlatform? platform)
    {
        var settings = new EngineOptions { Owner = owner };
        return new DeploymentEngine(store, platform ?? throw new ArgumentException("The deployment engine needs a platform to run on.", nameof(options)),
            options.Time, options.LeaseTtl is { } ttl ? settings with { LeaseTtl = ttl } : settings, options.Log);
    }

    /// <summary>Disposes every part, last made first, even when one of them fails.</summary>
    private static async ValueTask DisposeAllAsync(Stack<IAsyncDisposable> owned)
    {
        List<Exception>? failures = null;
        while (owned.TryPop(out var part))
        {
            try
            {
                await part.DisposeAsync();
            }
            catch (Exception ex)
            {
                (failures ??= []).Add(ex);
            }
        }

        if (failures is [var only])
        {
            ExceptionDispatchInfo.Throw(only);
        }
        else if (failures is not null)
        {
            throw new AggregateException(failures);
        }
    }

    /// <summary>Routine events (healthy, started, reloaded, adopted) are information; deaths, failures and restarts are warnings.</summary>
    private static void PlatformEventLogged(ILogger logger, PlatformEvent e)
    {
        if (e.Type is PlatformEventTypes.InstanceHealthy or PlatformEventTypes.InstanceAdopted or PlatformEventTypes.HaproxyStarted
            or PlatformEventTypes.HaproxyReloaded or PlatformEventTypes.HaproxyAdopted)
        {
            PlatformNews(logger, e.Service, e.Revision, e.InstanceId, e.Type, e.Message);
        }
        else
        {
            PlatformTrouble(logger, e.Service, e.Revision, e.InstanceId, e.Type, e.Message);
        }
    }

    [LoggerMessage(100, LogLevel.Warning, "{Service} r{Revision} {InstanceId}: {Type}: {Message}")]
    private static partial void PlatformTrouble(ILogger logger, string service, int? revision, string? instanceId, string type, string message);

    [LoggerMessage(101, LogLevel.Information, "{Service} r{Revision} {InstanceId}: {Type}: {Message}")]
    private static partial void PlatformNews(ILogger logger, string service, int? revision, string? instanceId, string type, string message);
}
