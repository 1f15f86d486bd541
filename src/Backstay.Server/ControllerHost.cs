using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Server.Api;
using Backstay.Server.Dashboard;
using Backstay.Server.Hosting;
using Backstay.Server.Observability;
using Backstay.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Backstay.Server;

/// <summary>
/// The controller (`backstay serve`): the deployment engine as a hosted service, the REST API under /api, the
/// event stream, health and metrics, and the dashboard, on one Kestrel listener (loopback by default).
/// </summary>
public static class ControllerHost
{
    /// <summary>Builds the controller's host; run it with RunAsync or StartAsync, and dispose the platform and store after it stops.</summary>
    /// <exception cref="ArgumentException">The listen address is malformed, or not loopback while remote access is not allowed.</exception>
    public static WebApplication Build(ControllerHostOptions options, InProcessControlPlane controlPlane, DeploymentEngine engine, ILoggerProvider? logs = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(controlPlane);
        ArgumentNullException.ThrowIfNull(engine);
        var listen = ListenAddress.Parse(options.Listen, options.AllowRemote);
        var time = options.TimeProvider;

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(ControllerHost).Assembly.GetName().Name,
            EnvironmentName = Environments.Production,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }
        else
        {
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        }

        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(listen.Address, listen.Port);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 1024 * 1024;
        });
        builder.Services.AddRoutingCore();
        // Whatever the framework itself writes as JSON resolves its types from the generated contexts, as the API does.
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJson.Resolver));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(engine);
        builder.Services.AddSingleton(controlPlane);
        builder.Services.AddSingleton<IControlPlane>(controlPlane);
        builder.Services.AddSingleton<EngineService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EngineService>());
        builder.Services.AddSingleton(sp => TokenStore.LoadOrCreate(options.StateDirectory, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Backstay.Server"), time));
        builder.Services.AddSingleton(sp => new SessionStore(sp.GetRequiredService<TokenStore>(), time));
        builder.Services.AddSingleton<ApiAuthentication>();
        builder.Services.AddSingleton<ApiExceptionHandler>();
        builder.Services.AddSingleton<EventStream>();
        builder.Services.AddSingleton(sp => new Metrics(controlPlane, () => sp.GetRequiredService<EngineService>().Running, engine.Timings,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Backstay.Server.Metrics")));

        builder.Services.AddSingleton(sp => new ServerFile(options.StateDirectory, listen, sp.GetRequiredService<IServer>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Backstay.Server")));

        var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Backstay.Server");
        var engineService = app.Services.GetRequiredService<EngineService>();
        var authentication = app.Services.GetRequiredService<ApiAuthentication>();
        var errors = app.Services.GetRequiredService<ApiExceptionHandler>();
        var tokens = app.Services.GetRequiredService<TokenStore>();
        var sessions = app.Services.GetRequiredService<SessionStore>();

        // What an earlier version left readable by others (the store, server.json) is owner-only from now on.
        StateFiles.TightenTree(options.StateDirectory);

        var serverFile = app.Services.GetRequiredService<ServerFile>();
        app.Lifetime.ApplicationStarted.Register(serverFile.Write);
        app.Lifetime.ApplicationStopping.Register(serverFile.Delete);

        app.Use((context, next) => errors.InvokeAsync(context, next));
        app.Use((context, next) => authentication.InvokeAsync(context, next));
        app.UseRouting();

        ApiEndpoints.Map(app, controlPlane, engineService, logger);
        TokenEndpoints.Map(app, tokens, sessions, logger);
        var events = app.Services.GetRequiredService<EventStream>();
        app.MapGet("/api/events", events.StreamAsync);
        app.MapGet("/healthz", () => engineService.Running
            ? ApiJson.Ok(new HealthStatus("ok"))
            : ApiJson.Ok(new HealthStatus("the deployment engine is not running"), StatusCodes.Status503ServiceUnavailable));
        var metrics = app.Services.GetRequiredService<Metrics>();
        app.MapGet("/metrics", async Task<IResult> (HttpContext context) =>
        {
            // Unauthenticated only for a client on this machine that names this machine (a local Prometheus);
            // anything else needs a token, read-only is enough.
            if (!ApiAuthentication.IsLocalClient(context) && authentication.Authenticate(context).Identity is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"backstay\"";
                return ApiErrors.Result(StatusCodes.Status401Unauthorized, ErrorKind.Unauthorized, "/metrics needs a token (the read-only one is enough) from another machine.");
            }

            return Results.Text(await metrics.RenderAsync(context.RequestAborted), "text/plain; version=0.0.4; charset=utf-8");
        });
        DashboardEndpoints.Map(app, authentication, tokens, sessions);
        app.MapFallback("/api/{**path}", (HttpContext context) =>
            ApiErrors.Result(StatusCodes.Status404NotFound, ErrorKind.NotFound,
                $"There is no {context.Request.Method} {ApiJson.Printable(context.Request.Path.Value ?? "")} in the API; GET /api/openapi.json lists the routes."));
        return app;
    }

    /// <summary>Why the engine stopped the host, or null when it did not (the host stopped on request, or still runs).</summary>
    public static Exception? EngineFailure(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<EngineService>().Failure;
    }

    /// <summary>The URL clients on this machine use (port 0 resolved) once the host has started, as written to server.json; null before.</summary>
    public static Uri? LocalUrl(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<ServerFile>().Url is { } url ? new Uri(url) : null;
    }
}
