using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Backstay.Core.Model;
using Backstay.Server.Hosting;

namespace Backstay.Server.Security;

/// <summary>What a caller may do: read; also continue, stop and roll back; also deploy, reset and manage tokens.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Role>))]
internal enum Role
{
    Viewer,
    Operator,
    Admin,
}

/// <summary>Who a token is: its name (recorded in the history as "api:NAME") and its role.</summary>
internal sealed record TokenIdentity(string Name, Role Role);

/// <summary>A named token as listed: never the token itself, which exists only in the answer that created it.</summary>
internal sealed record TokenInfo(string Name, Role Role, DateTimeOffset? CreatedAt, string? CreatedBy, bool Bootstrap);

/// <summary>A named token as kept in tokens.json: its SHA-256, not the token.</summary>
internal sealed record StoredToken(string Name, Role Role, string Sha256, DateTimeOffset CreatedAt, string CreatedBy);

/// <summary>
/// The controller's bearer tokens. Two bootstrap tokens in the state directory, made on first start and reused:
/// `token` (admin, named "admin") and `token.read` (viewer, named "viewer"); and named tokens made with
/// `backstay token create`, kept hashed in `tokens.json`. Every file is 0600. Compared in constant time, never logged.
/// </summary>
internal sealed partial class TokenStore
{
    public const string AdminFile = "token";
    public const string ViewerFile = "token.read";
    public const string NamedFile = "tokens.json";
    public const string AdminName = "admin";
    public const string ViewerName = "viewer";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static readonly JsonSerializerOptions FileJson = new(JsonSerializerDefaults.Web) { WriteIndented = true, TypeInfoResolver = Api.ServerJsonContext.Default };

    private readonly Lock _gate = new();
    private readonly byte[] _adminHash;
    private readonly byte[] _viewerHash;
    private readonly string _namedPath;
    private readonly TimeProvider _time;
    private List<StoredToken> _named;

    private TokenStore(string admin, string viewer, string namedPath, List<StoredToken> named, TimeProvider time)
    {
        _adminHash = Hash(admin);
        _viewerHash = Hash(viewer);
        _namedPath = namedPath;
        _named = named;
        _time = time;
    }

    /// <summary>Reads the bootstrap tokens from the state directory, creating missing ones, and the named tokens.</summary>
    public static TokenStore LoadOrCreate(string stateDirectory, ILogger logger, TimeProvider? time = null)
    {
        StateFiles.CreateDirectory(stateDirectory);
        var admin = LoadOrCreate(Path.Combine(stateDirectory, AdminFile), "admin", logger);
        var viewer = LoadOrCreate(Path.Combine(stateDirectory, ViewerFile), "viewer", logger);
        if (admin == viewer)
        {
            throw new InvalidOperationException($"The admin and viewer tokens in {stateDirectory} are the same; delete {ViewerFile} to make a new viewer token.");
        }

        var namedPath = Path.Combine(stateDirectory, NamedFile);
        return new TokenStore(admin, viewer, namedPath, LoadNamed(namedPath), time ?? TimeProvider.System);
    }

    /// <summary>Who a presented token is, or null when it is none of this controller's; the time taken does not depend on the token.</summary>
    public TokenIdentity? Authenticate(string? presented)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > 1024)
        {
            return null;
        }

        // Hashing first gives every side the same length, so the comparisons leak neither content nor length.
        var hash = Hash(presented);
        TokenIdentity? found = null;
        if (CryptographicOperations.FixedTimeEquals(hash, _adminHash))
        {
            found = new TokenIdentity(AdminName, Role.Admin);
        }

        if (CryptographicOperations.FixedTimeEquals(hash, _viewerHash))
        {
            found = new TokenIdentity(ViewerName, Role.Viewer);
        }

        foreach (var token in Snapshot())
        {
            if (CryptographicOperations.FixedTimeEquals(hash, Convert.FromHexString(token.Sha256)))
            {
                found = new TokenIdentity(token.Name, token.Role);
            }
        }

        return found;
    }

    /// <summary>True while a token of this name exists (a session made with a revoked token ends with it).</summary>
    public bool Exists(string name) =>
        name is AdminName or ViewerName || Snapshot().Any(t => string.Equals(t.Name, name, StringComparison.Ordinal));

    public IReadOnlyList<TokenInfo> List() =>
    [
        new TokenInfo(AdminName, Role.Admin, null, null, Bootstrap: true),
        new TokenInfo(ViewerName, Role.Viewer, null, null, Bootstrap: true),
        .. Snapshot().OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => new TokenInfo(t.Name, t.Role, t.CreatedAt, t.CreatedBy, Bootstrap: false)),
    ];

    /// <summary>Makes a named token; returns the token, which is shown once and kept only as its hash.</summary>
    /// <exception cref="ArgumentException">The name is not usable or taken; the message says what would be right.</exception>
    public string Create(string name, Role role, string createdBy)
    {
        if (!IsTokenName(name))
        {
            throw new ArgumentException($"A token name is 1 to 40 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. ci-deploy), got '{Printable(name)}'.");
        }

        if (name is AdminName or ViewerName)
        {
            throw new ArgumentException($"'{name}' is the name of a bootstrap token (<state>/{(name == AdminName ? AdminFile : ViewerFile)}); choose another name.");
        }

        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        lock (_gate)
        {
            if (_named.Any(t => string.Equals(t.Name, name, StringComparison.Ordinal)))
            {
                throw new ArgumentException($"A token named '{name}' exists already; revoke it first (`backstay token revoke {name}`) or choose another name.");
            }

            var next = new List<StoredToken>(_named)
            {
                new(name, role, Convert.ToHexStringLower(Hash(token)), _time.GetUtcNow(), createdBy),
            };
            Save(next);
            _named = next;
        }

        return token;
    }

    /// <summary>Removes a named token; false when there is none of that name.</summary>
    /// <exception cref="ArgumentException">The name is a bootstrap token's.</exception>
    public bool Revoke(string name)
    {
        if (name is AdminName or ViewerName)
        {
            throw new ArgumentException($"'{name}' is a bootstrap token; to replace it, delete <state>/{(name == AdminName ? AdminFile : ViewerFile)} and restart the controller.");
        }

        lock (_gate)
        {
            var next = _named.Where(t => !string.Equals(t.Name, name, StringComparison.Ordinal)).ToList();
            if (next.Count == _named.Count)
            {
                return false;
            }

            Save(next);
            _named = next;
            return true;
        }
    }

    public static bool IsTokenName(string? name) => name is not null && TokenNamePattern().IsMatch(name);

    private static string Printable(string? name) =>
        name is null ? "" : new string(name.Take(40).Select(c => char.IsControl(c) ? '?' : c).ToArray());

    private List<StoredToken> Snapshot()
    {
        lock (_gate)
        {
            return _named;
        }
    }

    private void Save(List<StoredToken> tokens) =>
        StateFiles.WriteAllText(_namedPath, BackstayJson.Serialize(tokens, FileJson) + "\n");

    private static List<StoredToken> LoadNamed(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        StateFiles.Tighten(path);
        try
        {
            var tokens = BackstayJson.Deserialize<List<StoredToken>>(File.ReadAllText(path), FileJson) ?? [];
            if (tokens.Any(t => !IsTokenName(t.Name) || t.Sha256 is not { Length: 64 } || !Enum.IsDefined(t.Role)))
            {
                throw new InvalidOperationException($"{path} holds a token entry that is not usable (a name, a role and a 64-digit SHA-256 are needed); fix or delete the entry.");
            }

            return tokens;
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"{path} is not valid JSON ({ex.Message}); fix it, or delete it to drop every named token.", ex);
        }
    }

    private static string LoadOrCreate(string path, string role, ILogger logger)
    {
        if (File.Exists(path))
        {
            if (StateFiles.Tighten(path) is { } previous)
            {
                ServerLog.TokenModeTightened(logger, path, previous);
            }

            var existing = File.ReadAllText(path).Trim();
            if (existing.Length >= 16)
            {
                return existing;
            }

            throw new InvalidOperationException($"The token file {path} holds no usable token (fewer than 16 characters); delete it and start again to make a new one.");
        }

        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            // Created with 0600 from the start: there is no moment at which another user could read it.
            options.UnixCreateMode = OwnerOnly;
        }

        using (var stream = new FileStream(path, options))
        {
            stream.Write(Encoding.ASCII.GetBytes(token + "\n"));
        }

        StateFiles.Tighten(path);
        ServerLog.TokenCreated(logger, role, path);
        return token;
    }

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,39}$", RegexOptions.CultureInvariant)]
    private static partial Regex TokenNamePattern();
}
