using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Backstay.Server.Hosting;
using Backstay.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Backstay.Server.Api;

/// <summary>Bodies of the action routes.</summary>
internal sealed record RollbackBody(int? ToRevision = null);

internal sealed record ContinueBody(string? HookId = null, bool Full = false);

internal sealed record StopBody(bool Rollback = false);

internal sealed record ResetBody(ResetMode? Mode = null);

internal sealed record AcknowledgeBody(string? Note = null);

/// <summary>One service as the dashboard's overview shows it: its record, what runs, what its latest release came to, and what differs.</summary>
internal sealed record ServiceOverview(
    ServiceRecord Service,
    Deployment? ActiveDeployment,
    Deployment? LastDeployment,
    ReleaseStatus? Release,
    Observation? Observation,
    IReadOnlyList<string> Drift);

/// <summary>
/// What the platform showed for a service when it was last read (the engine reads every service each observation
/// interval), with its age by the server's clock: screens show current traffic and instances from this, never from a
/// finished deployment's record. <c>Observed</c> is false until the first read.
/// </summary>
internal sealed record ObservationView(
    bool Observed,
    DateTimeOffset? At,
    double? AgeSeconds,
    IReadOnlyDictionary<int, int> ProductionWeights,
    IReadOnlyList<ObservedSet> Sets)
{
    public static ObservationView Of(Observation? observation, DateTimeOffset now) => observation is null
        ? new ObservationView(false, null, null, new Dictionary<int, int>(), [])
        : new ObservationView(true, observation.At, Math.Max(0, (now - observation.At).TotalSeconds), observation.ProductionWeights, observation.Sets);
}

/// <summary>The REST API: the control plane's calls, one route each, under /api.</summary>
internal static class ApiEndpoints
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 10_000;

    public static void Map(IEndpointRouteBuilder app, InProcessControlPlane plane, EngineService engine, ILogger logger)
    {
        var api = app.MapGroup("/api");

        api.MapGet("/services", async Task<IResult> (HttpContext context) =>
            ApiJson.Ok(await plane.ListServicesAsync(context.RequestAborted)));

        api.MapGet("/services/{name}", async (string name, HttpContext context) =>
            ApiJson.Ok(await RequireServiceAsync(plane, name, context.RequestAborted)));

        api.MapGet("/services/{name}/revisions", async (string name, HttpContext context) =>
        {
            await RequireServiceAsync(plane, name, context.RequestAborted);
            return ApiJson.Ok(await plane.ListRevisionsAsync(name, context.RequestAborted));
        });

        api.MapGet("/services/{name}/deployments", async (string name, HttpContext context) =>
        {
            var limit = QueryInt(context, "limit", DefaultLimit, 1, MaxLimit);
            await RequireServiceAsync(plane, name, context.RequestAborted);
            return ApiJson.Ok(await plane.ListDeploymentsAsync(name, limit, context.RequestAborted));
        });

        api.MapPost("/services/{name}/deployments", async (string name, HttpContext context) =>
        {
            var caller = context.Caller();
            caller.Require(Security.Role.Admin, "deploy");
            var request = Validate(await ApiJson.ReadAsync<DeployRequest>(context.Request, null, context.RequestAborted), name);
            var deployment = await plane.DeployAsync(request, caller.RequestedBy, context.RequestAborted);
            ServerLog.WriteAccepted(logger, "deploy", caller.RequestedBy, deployment.Id, deployment.Service);
            context.Response.Headers.Location = "/api/deployments/" + Uri.EscapeDataString(deployment.Id);
            return ApiJson.Ok(deployment, StatusCodes.Status201Created);
        });

        api.MapPost("/services/{name}/rollback", async (string name, HttpContext context) =>
        {
            var body = await ApiJson.ReadAsync(context.Request, new RollbackBody(null), context.RequestAborted);
            return await ActAsync(context, logger, "rollback", () => plane.RollbackAsync(name, body.ToRevision, context.Caller().RequestedBy, context.RequestAborted),
                () => ServiceMissingAsync(plane, name, context.RequestAborted));
        });

        api.MapPost("/services/{name}/reset", async (string name, HttpContext context) =>
        {
            context.Caller().Require(Security.Role.Admin, "reset");
            var body = await ApiJson.ReadAsync<ResetBody>(context.Request, null, context.RequestAborted);
            var mode = body.Mode is { } given && Enum.IsDefined(given) ? given : throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                "A reset needs a mode: {\"mode\": \"Adopt\"} takes what runs as the new record, {\"mode\": \"Recreate\"} brings back the last good revision.");
            return await ActAsync(context, logger, "reset", () => plane.ResetAsync(name, mode, context.Caller().RequestedBy, context.RequestAborted),
                () => ServiceMissingAsync(plane, name, context.RequestAborted));
        });

        api.MapPost("/services/{name}/acknowledge", async (string name, HttpContext context) =>
        {
            var body = await ApiJson.ReadAsync(context.Request, new AcknowledgeBody(), context.RequestAborted);
            if (body.Note is { Length: > AcknowledgeNoteMax })
            {
                throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                    $"note is {body.Note.Length} characters; an acknowledgement's note holds at most {AcknowledgeNoteMax} (say where the rest is, e.g. a ticket link).");
            }

            await RequireServiceAsync(plane, name, context.RequestAborted);
            var caller = context.Caller();
            var release = await plane.AcknowledgeAsync(name, body.Note, caller.RequestedBy, context.RequestAborted);
            ServerLog.WriteAccepted(logger, "acknowledge", caller.RequestedBy, release.DeploymentId, name);
            return ApiJson.Ok(release);
        });

        api.MapGet("/services/{name}/observation", async (string name, HttpContext context) =>
        {
            await RequireServiceAsync(plane, name, context.RequestAborted);
            return ApiJson.Ok(ObservationView.Of(await plane.Store.GetObservationAsync(name, context.RequestAborted), TimeProvider.System.GetUtcNow()));
        });

        api.MapGet("/services/{name}/drift", async (string name, HttpContext context) =>
        {
            await RequireServiceAsync(plane, name, context.RequestAborted);
            return ApiJson.Ok(await plane.DriftAsync(name, context.RequestAborted));
        });

        api.MapGet("/deployments", async Task<IResult> (HttpContext context) =>
        {
            var limit = QueryInt(context, "limit", DefaultLimit, 1, MaxLimit);
            var active = QueryBool(context, "active");
            IEnumerable<Deployment> list = active switch
            {
                true => await plane.ListActiveDeploymentsAsync(context.RequestAborted),
                false => (await plane.ListDeploymentsAsync(null, MaxLimit, context.RequestAborted)).Where(d => d.IsFinished),
                null => await plane.ListDeploymentsAsync(null, limit, context.RequestAborted),
            };
            return ApiJson.Ok(list.Take(limit).ToList());
        });

        api.MapGet("/deployments/{id}", async (string id, HttpContext context) =>
            ApiJson.Ok(await RequireDeploymentAsync(plane, id, context.RequestAborted)));

        api.MapGet("/deployments/{id}/events", async (string id, HttpContext context) =>
        {
            var after = QueryLong(context, "after", 0);
            await RequireDeploymentAsync(plane, id, context.RequestAborted);
            return ApiJson.Ok(await plane.ListEventsAsync(id, after, context.RequestAborted));
        });

        SeriesEndpoints.Map(api, plane);
        ReleaseEndpoints.Map(api, plane, logger);

        api.MapGet("/deployments/{id}/hooks", async (string id, HttpContext context) =>
        {
            await RequireDeploymentAsync(plane, id, context.RequestAborted);
            return ApiJson.Ok(await plane.ListHookRunsAsync(id, context.RequestAborted));
        });

        api.MapPost("/deployments/{id}/continue", async (string id, HttpContext context) =>
        {
            var body = await ApiJson.ReadAsync(context.Request, new ContinueBody(null, false), context.RequestAborted);
            return await ActAsync(context, logger, "continue", () => plane.ContinueAsync(id, body.HookId, body.Full, context.Caller().RequestedBy, context.RequestAborted),
                () => DeploymentMissingAsync(plane, id, context.RequestAborted));
        });

        api.MapPost("/deployments/{id}/stop", async (string id, HttpContext context) =>
        {
            var body = await ApiJson.ReadAsync(context.Request, new StopBody(false), context.RequestAborted);
            return await ActAsync(context, logger, body.Rollback ? "stop and roll back" : "stop",
                () => plane.StopAsync(id, body.Rollback, context.Caller().RequestedBy, context.RequestAborted),
                () => DeploymentMissingAsync(plane, id, context.RequestAborted));
        });

        api.MapGet("/controller", () => ApiJson.Ok(new ControllerState(engine.Running)));

        api.MapGet("/whoami", (HttpContext context) =>
        {
            var caller = context.Caller();
            return ApiJson.Ok(new WhoAmI(caller.Role.ToString().ToLowerInvariant(), caller.Name, caller.RequestedBy));
        });

        api.MapGet("/overview", async Task<IResult> (HttpContext context) =>
        {
            var cancellationToken = context.RequestAborted;
            var active = await plane.ListActiveDeploymentsAsync(cancellationToken);
            var result = new List<ServiceOverview>();
            foreach (var service in await plane.ListServicesAsync(cancellationToken))
            {
                var recent = await plane.ListDeploymentsAsync(service.Name, 20, cancellationToken);
                result.Add(new ServiceOverview(
                    service,
                    active.Where(d => d.Service == service.Name).OrderBy(d => d.Kind == DeploymentKind.Rollback ? 0 : 1).FirstOrDefault(),
                    recent.FirstOrDefault(),
                    await ReleaseStatus.OfAsync(recent, plane.ListEventsAsync, cancellationToken),
                    await plane.Store.GetObservationAsync(service.Name, cancellationToken),
                    await plane.DriftAsync(service.Name, cancellationToken)));
            }

            return ApiJson.Ok(result);
        });

        api.MapGet("/openapi.json", () => Results.Stream(Dashboard.EmbeddedAssets.Open("openapi.json")!, "application/json; charset=utf-8"));
    }

    /// <summary>
    /// Checks what JSON cannot, with the words `backstay validate` uses: the spec goes through the spec reader
    /// (every problem, the first 50 in the answer), then the route must name its service. Returns the request with
    /// the spec as the reader makes it, so what is deployed is what the same file would deploy.
    /// </summary>
    internal static DeployRequest Validate(DeployRequest request, string name)
    {
        if (request.Spec is null)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, "The request has no spec; send {\"spec\": {...}} as the CLI does.");
        }

        ServiceSpec spec;
        try
        {
            spec = SpecLoader.Check(request.Spec, "spec");
        }
        catch (SpecException ex)
        {
            throw new SpecRefusedException(ex);
        }

        if (!string.Equals(spec.Service, name, StringComparison.Ordinal))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                $"The spec deploys service '{spec.Service}', but the request was sent to /api/services/{ApiJson.Printable(name)}/deployments; send it to /api/services/{spec.Service}/deployments.");
        }

        if (request.Trigger is not (Trigger.User or Trigger.Ci))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"trigger must be User or Ci, got {request.Trigger}.");
        }

        if (request.Image is { } image && string.IsNullOrWhiteSpace(image))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, "image must not be empty; leave it out to deploy spec.task.image.");
        }

        foreach (var (key, value) in request.Env)
        {
            if (key is null || value is null || !IsEnvironmentName(key))
            {
                throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                    $"env: '{ApiJson.Printable(key ?? "")}' must be a variable name (letters, digits and '_', not starting with a digit) with a text value, e.g. {{\"GREETING\": \"hi\"}}.");
            }
        }

        if (request.Spec.BaseDirectory is { } baseDirectory && !Path.IsPathFullyQualified(baseDirectory))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                $"spec.baseDirectory must be the absolute path of the spec file's folder (relative images and exec hooks are found from it), got '{ApiJson.Printable(baseDirectory)}'.");
        }

        return request with { Spec = spec };
    }

    private static bool IsEnvironmentName(string name) =>
        name.Length is > 0 and <= 256 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>Runs an action; a refusal about something that does not exist becomes a 404 with the control plane's own words.</summary>
    /// <summary>The longest note an acknowledgement keeps: a sentence and a link, not a post-mortem.</summary>
    internal const int AcknowledgeNoteMax = 500;

    private static async Task<IResult> ActAsync(HttpContext context, ILogger logger, string action, Func<Task<Deployment>> act, Func<Task<bool>> missing)
    {
        Deployment deployment;
        try
        {
            deployment = await act();
        }
        catch (InvalidRequestException ex)
        {
            if (await missing())
            {
                throw new ApiException(StatusCodes.Status404NotFound, ErrorKind.NotFound, ex.Message);
            }

            throw;
        }

        ServerLog.WriteAccepted(logger, action, context.Caller().RequestedBy, deployment.Id, deployment.Service);
        return ApiJson.Ok(deployment, StatusCodes.Status202Accepted);
    }

    private static async Task<bool> ServiceMissingAsync(InProcessControlPlane plane, string name, CancellationToken cancellationToken) =>
        await plane.GetServiceAsync(name, cancellationToken) is null;

    private static async Task<bool> DeploymentMissingAsync(InProcessControlPlane plane, string id, CancellationToken cancellationToken) =>
        await plane.GetDeploymentAsync(id, cancellationToken) is null;

    internal static async Task<ServiceRecord> RequireServiceAsync(IControlPlane plane, string name, CancellationToken cancellationToken)
    {
        if (await plane.GetServiceAsync(name, cancellationToken) is { } service)
        {
            return service;
        }

        // The control plane's own words (DeploymentRequests.RollbackAsync and ResetAsync), so the CLI reads the same through the API.
        var services = await plane.ListServicesAsync(cancellationToken);
        var known = services.Count == 0 ? "none yet (deploy one with `backstay deploy`)" : string.Join(", ", services.Select(s => s.Name));
        throw new ApiException(StatusCodes.Status404NotFound, ErrorKind.NotFound, $"Unknown service '{name}'. Known services: {known}.");
    }

    internal static async Task<Deployment> RequireDeploymentAsync(IControlPlane plane, string id, CancellationToken cancellationToken) =>
        await plane.GetDeploymentAsync(id, cancellationToken)
        ?? throw new ApiException(StatusCodes.Status404NotFound, ErrorKind.NotFound,
            $"Unknown deployment '{id}'; `backstay history SERVICE` lists a service's deployments.");

    internal static int QueryInt(HttpContext context, string name, int fallback, int min, int max)
    {
        var text = context.Request.Query[name].ToString();
        if (text.Length == 0)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"Query parameter {name}={text} must be a whole number from {min} to {max}.");
    }

    internal static long QueryLong(HttpContext context, string name, long fallback)
    {
        var text = context.Request.Query[name].ToString();
        if (text.Length == 0)
        {
            return fallback;
        }

        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"Query parameter {name}={text} must be a whole number, 0 or more.");
    }

    private static bool? QueryBool(HttpContext context, string name)
    {
        var text = context.Request.Query[name].ToString();
        return text.Length == 0 ? null
            : bool.TryParse(text, out var value) ? value
            : throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"Query parameter {name}={text} must be true or false.");
    }
}
