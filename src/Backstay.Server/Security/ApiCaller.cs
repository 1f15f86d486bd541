using System.Text;
using Microsoft.AspNetCore.Http;

namespace Backstay.Server.Security;

/// <summary>Who is calling the API, as authenticated: the role of the token and the name recorded with every write.</summary>
internal sealed record ApiCaller(Role Role, string User, bool ViaCookie)
{
    public const string UserHeader = "X-Backstay-User";

    /// <summary>What a write records as requestedBy: "api:" and the caller's name, or the token's role without one.</summary>
    public string RequestedBy => "api:" + User;

    public static ApiCaller From(HttpContext context, Role role, bool viaCookie)
    {
        ArgumentNullException.ThrowIfNull(context);
        var user = Clean(context.Request.Headers[UserHeader].ToString());
        return new ApiCaller(role, user.Length > 0 ? user : role.ToString().ToLowerInvariant(), viaCookie);
    }

    /// <summary>The caller's name goes into the history and logs: keep it short and printable, so it cannot forge lines.</summary>
    internal static string Clean(string value)
    {
        var text = new StringBuilder(Math.Min(value.Length, 64));
        foreach (var c in value.Trim())
        {
            if (text.Length == 64)
            {
                break;
            }

            text.Append(char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or '@' or ' ' ? c : '_');
        }

        return text.ToString().Trim();
    }
}

internal static class ApiCallerExtensions
{
    public static ApiCaller Caller(this HttpContext context) =>
        context.Features.Get<ApiCaller>() ?? throw new InvalidOperationException("The request was not authenticated.");
}
