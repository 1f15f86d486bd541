using Backstay.Server.Api;
using Backstay.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Backstay.Server.Dashboard;

/// <summary>The login body.</summary>
internal sealed record LoginBody(string? Token);

/// <summary>What a login answers: who the session is for and when it ends.</summary>
internal sealed record DashboardSession(string Name, string Role, DateTimeOffset Expires);

/// <summary>
/// The dashboard: static pages from the assembly, a login that trades the token for a session of the browser's
/// own (an HTTP-only cookie with a random id, never the token), and a logout that ends the session. The API does
/// the rest, with that cookie.
/// </summary>
internal static class DashboardEndpoints
{
    /// <summary>Scripts and styles only from this host, no inline script, no framing: a stolen page cannot run foreign code.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    public static void Map(IEndpointRouteBuilder app, ApiAuthentication authentication, TokenStore tokens, SessionStore sessions)
    {
        app.MapGet("/", (HttpContext context) =>
            authentication.Authenticate(context).Identity is null
                ? Results.Redirect("/login")
                : Page(context, "index.html"));

        app.MapGet("/login", (HttpContext context) => Page(context, "login.html"));

        app.MapPost("/login", async Task<IResult> (HttpContext context) =>
        {
            if (!ApiAuthentication.IsSameOrigin(context.Request))
            {
                return Error(StatusCodes.Status403Forbidden, ErrorKind.Forbidden, "A login must come from the dashboard's own login page.");
            }

            var body = await ApiJson.ReadAsync<LoginBody>(context.Request, null, context.RequestAborted);
            if (tokens.Authenticate(body.Token?.Trim()) is not { } identity)
            {
                return Error(StatusCodes.Status401Unauthorized, ErrorKind.Unauthorized,
                    "That is not a token of this controller; the admin token is in <state>/token, a read-only one in <state>/token.read, named ones come from `backstay token create`.");
            }

            if (context.Request.Cookies.TryGetValue(ApiAuthentication.CookieName, out var previous))
            {
                sessions.End(previous);
            }

            var (id, expires) = sessions.Start(identity);
            context.Response.Cookies.Append(ApiAuthentication.CookieName, id, ApiAuthentication.SessionCookie(expires));
            return ApiJson.Ok(new DashboardSession(identity.Name, identity.Role.ToString().ToLowerInvariant(), expires));
        });

        app.MapPost("/logout", (HttpContext context) =>
        {
            if (!ApiAuthentication.IsSameOrigin(context.Request))
            {
                return Error(StatusCodes.Status403Forbidden, ErrorKind.Forbidden, "A logout must come from the dashboard's own page.");
            }

            if (context.Request.Cookies.TryGetValue(ApiAuthentication.CookieName, out var id))
            {
                sessions.End(id);
            }

            context.Response.Cookies.Delete(ApiAuthentication.CookieName, ApiAuthentication.SessionCookie(DateTimeOffset.UnixEpoch));
            return Results.NoContent();
        });

        app.MapGet("/assets/{file}", (string file, HttpContext context) => Page(context, "assets/" + file));
    }

    private static IResult Page(HttpContext context, string name)
    {
        if (EmbeddedAssets.Get(name) is not { } asset)
        {
            return Error(StatusCodes.Status404NotFound, ErrorKind.NotFound, $"There is no {name} here.");
        }

        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        return context.Request.Headers.IfNoneMatch == asset.ETag
            ? Results.StatusCode(StatusCodes.Status304NotModified)
            : Results.Bytes(asset.Content, asset.ContentType);
    }

    private static IResult Error(int status, string kind, string message) => ApiErrors.Result(status, kind, message);
}
