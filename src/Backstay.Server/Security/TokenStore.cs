using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Backstay.Server.Security;

/// <summary>What a caller may do: read everything, or also act.</summary>
internal enum Role
{
    Viewer,
    Admin,
}

/// <summary>
/// The controller's two bearer tokens, kept in the state directory with mode 0600: `token` (admin) and
/// `token.read` (viewer). Made on first start, reused afterwards. Compared in constant time, never logged.
/// </summary>
internal sealed class TokenStore
{
    public const string AdminFile = "token";
    public const string ViewerFile = "token.read";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly byte[] _adminHash;
    private readonly byte[] _viewerHash;

    private TokenStore(string admin, string viewer)
    {
        _adminHash = Hash(admin);
        _viewerHash = Hash(viewer);
    }

    /// <summary>Reads both tokens from the state directory, creating missing ones.</summary>
    public static TokenStore LoadOrCreate(string stateDirectory, ILogger logger)
    {
        Directory.CreateDirectory(stateDirectory);
        var admin = LoadOrCreate(Path.Combine(stateDirectory, AdminFile), "admin", logger);
        var viewer = LoadOrCreate(Path.Combine(stateDirectory, ViewerFile), "viewer", logger);
        if (admin == viewer)
        {
            throw new InvalidOperationException($"The admin and viewer tokens in {stateDirectory} are the same; delete {ViewerFile} to make a new viewer token.");
        }

        return new TokenStore(admin, viewer);
    }

    /// <summary>The role of a presented token, or null when it is neither; the time taken does not depend on the token.</summary>
    public Role? Authenticate(string? presented)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return null;
        }

        // Hashing first gives both sides the same length, so the comparison leaks neither content nor length.
        var hash = Hash(presented);
        var isAdmin = CryptographicOperations.FixedTimeEquals(hash, _adminHash);
        var isViewer = CryptographicOperations.FixedTimeEquals(hash, _viewerHash);
        return isAdmin ? Role.Admin : isViewer ? Role.Viewer : null;
    }

    private static string LoadOrCreate(string path, string role, ILogger logger)
    {
        if (File.Exists(path))
        {
            if (!OperatingSystem.IsWindows())
            {
                var mode = File.GetUnixFileMode(path);
                if ((mode & ~OwnerOnly) != 0)
                {
                    File.SetUnixFileMode(path, OwnerOnly);
                    ServerLog.TokenModeTightened(logger, path, Convert.ToString((int)mode, 8));
                }
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

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, OwnerOnly);
        }

        ServerLog.TokenCreated(logger, role, path);
        return token;
    }

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));
}
