using Backstay.Core.Control;
using Backstay.Core.Releases;
using Backstay.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Backstay.Server.Api;

/// <summary>The body of the release action routes: none, or an empty JSON object.</summary>
internal sealed record NoBody;

/// <summary>
/// The routes of coordinated releases: POST /api/releases takes what `backstay release` sends (each service's spec
/// checked as a deploy's is, the dependency graph as the release file's is); the others act on a release by its id.
/// </summary>
internal static class ReleaseEndpoints
{
    public static void Map(IEndpointRouteBuilder api, InProcessControlPlane plane, ILogger logger)
    {
        api.MapPost("/releases", async Task<IResult> (HttpContext context) =>
        {
            var caller = context.Caller();
            caller.Require(Security.Role.Admin, "release");
            var request = Validate(await ApiJson.ReadAsync<ReleaseRequest>(context.Request, null, context.RequestAborted));
            var release = await plane.StartReleaseAsync(request, caller.RequestedBy, context.RequestAborted);
            ServerLog.WriteAccepted(logger, "release", caller.RequestedBy, release.Id, string.Join(",", release.Members.Select(m => m.Service)));
            context.Response.Headers.Location = "/api/releases/" + Uri.EscapeDataString(release.Id);
            return ApiJson.Ok(release, StatusCodes.Status201Created);
        });

        api.MapGet("/releases", async Task<IResult> (HttpContext context) =>
        {
            var limit = ApiEndpoints.QueryInt(context, "limit", ApiEndpoints.DefaultLimit, 1, ApiEndpoints.MaxLimit);
            if (context.Request.Query["deployment"] is [{ } deployment])
            {
                // The release a deployment (or a rollback deployment it asked for) belongs to: a deployment page's link, without every release.
                var all = await plane.ListReleasesAsync(ApiEndpoints.MaxLimit, context.RequestAborted);
                IReadOnlyList<Release> found = [.. all.Where(r => r.Members.Any(m => m.DeploymentId == deployment || m.RollbackDeploymentId == deployment)).Take(limit)];
                return ApiJson.Ok(found);
            }

            return ApiJson.Ok(await plane.ListReleasesAsync(limit, context.RequestAborted));
        });

        api.MapGet("/releases/{id}", async (string id, HttpContext context) =>
            ApiJson.Ok(await RequireAsync(plane, id, context.RequestAborted)));

        api.MapGet("/releases/{id}/events", async (string id, HttpContext context) =>
        {
            await RequireAsync(plane, id, context.RequestAborted);
            return ApiJson.Ok(await plane.ListEventsAsync(id, ApiEndpoints.QueryLong(context, "after", 0), context.RequestAborted));
        });

        api.MapPost("/releases/{id}/rollback", (string id, HttpContext context) =>
            ActAsync(plane, logger, context, id, "roll back release", () => plane.RollbackReleaseAsync(id, context.Caller().RequestedBy, context.RequestAborted)));

        api.MapPost("/releases/{id}/continue", (string id, HttpContext context) =>
            ActAsync(plane, logger, context, id, "continue release", () => plane.ContinueReleaseAsync(id, context.Caller().RequestedBy, context.RequestAborted)));

        api.MapPost("/releases/{id}/stop", (string id, HttpContext context) =>
            ActAsync(plane, logger, context, id, "stop release", () => plane.StopReleaseAsync(id, context.Caller().RequestedBy, context.RequestAborted)));
    }

    private static async Task<IResult> ActAsync(InProcessControlPlane plane, ILogger logger, HttpContext context, string id, string action, Func<Task<Release>> act)
    {
        // These routes take no body; one sent by mistake is refused rather than ignored, as the other action routes do.
        await ApiJson.ReadAsync(context.Request, new NoBody(), context.RequestAborted);
        await RequireAsync(plane, id, context.RequestAborted);
        var release = await act();
        ServerLog.WriteAccepted(logger, action, context.Caller().RequestedBy, release.Id, string.Join(",", release.Members.Select(m => m.Service)));
        return ApiJson.Ok(release, StatusCodes.Status202Accepted);
    }

    private static async Task<Release> RequireAsync(InProcessControlPlane plane, string id, CancellationToken cancellationToken) =>
        await plane.GetReleaseAsync(id, cancellationToken)
        ?? throw new ApiException(StatusCodes.Status404NotFound, ErrorKind.NotFound, $"Unknown release '{ApiJson.Printable(id)}'; GET /api/releases lists them.");

    /// <summary>The checks the release file gets: a name, at least one service, each spec as a deploy's, the overrides as a deploy's.</summary>
    private static ReleaseRequest Validate(ReleaseRequest request)
    {
        if (request.Release is null || !Release.IsValidName(request.Release))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid,
                $"release must be 1 to 63 lowercase letters, digits or '-', starting with a letter or digit, got '{ApiJson.Printable(request.Release ?? "")}'.");
        }

        if (request.Services is not { Count: > 0 } services || services.Any(s => s is null))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, "services must list at least one service: [{\"spec\": {...}, \"dependsOn\": [...]}].");
        }

        if (request.Trigger is not (Core.Model.Trigger.User or Core.Model.Trigger.Ci))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"trigger must be User or Ci, got {request.Trigger}.");
        }

        var checkedServices = new List<ReleaseServiceRequest>();
        for (var i = 0; i < services.Count; i++)
        {
            var service = services[i];
            if (service.DependsOn is null || service.DependsOn.Any(d => d is null))
            {
                throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, $"services[{i}].dependsOn must be a list of service names.");
            }

            var deploy = ApiEndpoints.Validate(
                new DeployRequest { Spec = service.Spec!, Image = service.Image, Env = service.Env ?? new Dictionary<string, string>(), Provenance = service.Provenance ?? new() },
                service.Spec?.Service ?? "");
            checkedServices.Add(service with { Spec = deploy.Spec });
        }

        if (ReleaseGraph.Check([.. checkedServices.Select(s => (s.Spec.Service, s.Spec.Platform.Kind, s.DependsOn))]) is { Count: > 0 } problems)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, string.Join(" ", problems.Select(p => $"{p.Key}: {p.Message}.")));
        }

        return request with { Services = checkedServices };
    }
}
