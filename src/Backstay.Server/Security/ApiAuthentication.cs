using System.Net;
using Backstay.Server.Api;

namespace Backstay.Server.Security;

/// <summary>
/// Guards /api: a bearer token (CLI, scripts) or the dashboard's session cookie. Viewers may only read (the routes
/// check the finer roles); a write
/// carried by the cookie must come from the dashboard's own origin, so another site cannot make a browser act.
/// </summary>
internal sealed class ApiAuthentication(TokenStore tokens, SessionStore sessions, ILogger<ApiAuthentication> logger)
{
    public const string CookieName = "backstay_session";

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (!context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }

        var (identity, viaCookie) = Authenticate(context);
        if (identity is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"backstay\"";
            await RefuseAsync(context, StatusCodes.Status401Unauthorized, ErrorKind.Unauthorized,
                "A token is needed: send `Authorization: Bearer TOKEN` (the admin token is in the controller's <state>/token, a read-only one in <state>/token.read, named ones come from `backstay token create`), or log in to the dashboard.");
            return;
        }

        if (IsWrite(context.Request.Method))
        {
            if (viaCookie && !IsSameOrigin(context.Request))
            {
                await RefuseAsync(context, StatusCodes.Status403Forbidden, ErrorKind.Forbidden,
                    "A change through the dashboard's cookie must come from the dashboard's own page (the Origin header did not match); a script should send a bearer token instead.");
                return;
            }

            if (identity.Role == Role.Viewer)
            {
                await RefuseAsync(context, StatusCodes.Status403Forbidden, ErrorKind.Forbidden,
                    $"The token '{identity.Name}' is read-only (a viewer token); continue, stop and rollback need an operator or admin token, deploy and reset an admin token.");
                return;
            }
        }

        context.Features.Set(new ApiCaller(identity.Name, identity.Role, viaCookie));
        await next(context);
    }

    /// <summary>Who the request's bearer token is, or else its dashboard session; a bad bearer token does not fall back to the cookie.</summary>
    public (TokenIdentity? Identity, bool ViaCookie) Authenticate(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var header = context.Request.Headers.Authorization.ToString();
        if (header.Length > 0)
        {
            const string Scheme = "Bearer ";
            return header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
                ? (tokens.Authenticate(header[Scheme.Length..].Trim()), false)
                : (null, false);
        }

        return context.Request.Cookies.TryGetValue(CookieName, out var cookie) && sessions.Authenticate(cookie) is { } identity
            ? (identity, true)
            : (null, false);
    }

    /// <summary>True when the browser says the request comes from this host's own page (Origin, and Sec-Fetch-Site when sent).</summary>
    public static bool IsSameOrigin(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0 && !string.Equals(site, "same-origin", StringComparison.Ordinal))
        {
            return false;
        }

        var origin = request.Headers.Origin.ToString();
        return Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The dashboard's session cookie: HTTP-only (no script reads it), Secure, and never sent by another site.</summary>
    public static CookieOptions SessionCookie(DateTimeOffset expires) => new()
    {
        HttpOnly = true,
        Secure = true,
        SameSite = SameSiteMode.Strict,
        Path = "/",
        IsEssential = true,
        Expires = expires,
    };

    private static bool IsWrite(string method) =>
        !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method));

    private async Task RefuseAsync(HttpContext context, int status, string kind, string message)
    {
        ServerLog.Refused(logger, context.Request.Method, context.Request.Path.Value ?? "", status,
            context.Connection.RemoteIpAddress?.ToString() ?? "?", kind);
        await ApiErrors.WriteAsync(context, status, kind, message);
    }

    /// <summary>True when the client connects from this machine and names this machine as the host (no DNS rebinding).</summary>
    public static bool IsLocalClient(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var remote = context.Connection.RemoteIpAddress;
        if (remote is null || !IPAddress.IsLoopback(remote))
        {
            return false;
        }

        var host = context.Request.Host.Host.Trim('[', ']');
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }
}
