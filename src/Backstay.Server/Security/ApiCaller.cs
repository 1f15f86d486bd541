using Backstay.Server.Api;

namespace Backstay.Server.Security;

/// <summary>Who is calling the API, as authenticated: the token's name and role, and whether a dashboard session carried it.</summary>
internal sealed record ApiCaller(string Name, Role Role, bool ViaCookie)
{
    /// <summary>What a write records as requestedBy: "api:" and the name of the token, never a name the caller gave itself.</summary>
    public string RequestedBy => "api:" + Name;

    /// <summary>Refuses with 403 unless the caller's role is at least <paramref name="needed"/>.</summary>
    public void Require(Role needed, string action)
    {
        if (Role >= needed)
        {
            return;
        }

        throw new ApiException(StatusCodes.Status403Forbidden, ErrorKind.Forbidden,
            $"The token '{Name}' is a {Role.ToString().ToLowerInvariant()} token; {action} needs {(needed == Role.Admin ? "an admin" : "an operator or admin")} token.");
    }
}

internal static class ApiCallerExtensions
{
    public static ApiCaller Caller(this HttpContext context) =>
        context.Features.Get<ApiCaller>() ?? throw new InvalidOperationException("The request was not authenticated.");
}
