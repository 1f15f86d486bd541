using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Backstay.Server.Security;

/// <summary>One dashboard login: which token it was made with, and when it ends.</summary>
internal sealed record Session(string TokenName, Role Role, DateTimeOffset Expires);

/// <summary>
/// The dashboard's sessions. The browser gets a random id of its own, never a token; the controller keeps, by the
/// id's hash, which token logged in and until when. A session ends at its expiry, at logout, when its token is
/// revoked, and when the controller stops (log in again).
/// </summary>
internal sealed class SessionStore(TokenStore tokens, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    /// <summary>Starts a session for a token's identity; returns the id the cookie carries and when it ends.</summary>
    public (string Id, DateTimeOffset Expires) Start(TokenIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        RemoveExpired();
        var id = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var expires = time.GetUtcNow() + Lifetime;
        _sessions[Key(id)] = new Session(identity.Name, identity.Role, expires);
        return (id, expires);
    }

    /// <summary>The identity of a live session, or null when the id is unknown, expired, logged out or its token revoked.</summary>
    public TokenIdentity? Authenticate(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 128 || !_sessions.TryGetValue(Key(id), out var session))
        {
            return null;
        }

        if (session.Expires <= time.GetUtcNow() || !tokens.Exists(session.TokenName))
        {
            _sessions.TryRemove(Key(id), out _);
            return null;
        }

        return new TokenIdentity(session.TokenName, session.Role);
    }

    /// <summary>Ends a session; true when there was one.</summary>
    public bool End(string? id) => !string.IsNullOrEmpty(id) && _sessions.TryRemove(Key(id), out _);

    /// <summary>Ends every session made with a token (it was revoked).</summary>
    public void EndAll(string tokenName)
    {
        foreach (var (key, session) in _sessions)
        {
            if (string.Equals(session.TokenName, tokenName, StringComparison.Ordinal))
            {
                _sessions.TryRemove(key, out _);
            }
        }
    }

    private void RemoveExpired()
    {
        var now = time.GetUtcNow();
        foreach (var (key, session) in _sessions)
        {
            if (session.Expires <= now)
            {
                _sessions.TryRemove(key, out _);
            }
        }
    }

    /// <summary>Kept by hash, so what sits in memory cannot be replayed as a cookie.</summary>
    private static string Key(string id) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
}
