using Backstay.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Backstay.Server.Api;

/// <summary>The body of POST /api/tokens.</summary>
internal sealed record CreateTokenBody(string Name, Role Role);

/// <summary>The answer to POST /api/tokens: the only time the token itself is shown.</summary>
internal sealed record CreatedToken(string Name, Role Role, string Token);

/// <summary>Named tokens (admin only): list, create, revoke. Revoking a token ends the dashboard sessions made with it.</summary>
internal static class TokenEndpoints
{
    public static void Map(IEndpointRouteBuilder app, TokenStore tokens, SessionStore sessions, ILogger logger)
    {
        app.MapGet("/api/tokens", (HttpContext context) =>
        {
            context.Caller().Require(Role.Admin, "listing tokens");
            return ApiJson.Ok(tokens.List());
        });

        app.MapPost("/api/tokens", async (HttpContext context) =>
        {
            var caller = context.Caller();
            caller.Require(Role.Admin, "creating a token");
            var body = await ApiJson.ReadAsync<CreateTokenBody>(context.Request, null, context.RequestAborted);
            if (!Enum.IsDefined(body.Role))
            {
                throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, "role must be viewer, operator or admin.");
            }

            string token;
            try
            {
                token = tokens.Create(body.Name, body.Role, caller.RequestedBy);
            }
            catch (ArgumentException ex)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, ex.Message);
            }

            ServerLog.TokenChanged(logger, "created", body.Name, body.Role.ToString(), caller.RequestedBy);
            context.Response.Headers.CacheControl = "no-store";
            return ApiJson.Ok(new CreatedToken(body.Name, body.Role, token), StatusCodes.Status201Created);
        });

        app.MapDelete("/api/tokens/{name}", (string name, HttpContext context) =>
        {
            var caller = context.Caller();
            caller.Require(Role.Admin, "revoking a token");
            bool revoked;
            try
            {
                revoked = tokens.Revoke(name);
            }
            catch (ArgumentException ex)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, ErrorKind.Invalid, ex.Message);
            }

            if (!revoked)
            {
                throw new ApiException(StatusCodes.Status404NotFound, ErrorKind.NotFound,
                    $"There is no token named '{ApiJson.Printable(name)}'; `backstay token list` shows them.");
            }

            sessions.EndAll(name);
            ServerLog.TokenChanged(logger, "revoked", name, "", caller.RequestedBy);
            return Results.NoContent();
        });
    }
}
