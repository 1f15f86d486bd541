using System.Runtime.InteropServices;

namespace Backstay.Server.Hosting;

/// <summary>
/// The state directory holds tokens, the store and the controller's address: only its owner may read it. New files
/// are 0600 and folders 0700 (a umask of 077 for the process), and what an older version left readable is tightened.
/// </summary>
public static class StateFiles
{
    private const UnixFileMode OwnerBits = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Makes every file and folder this process (and what it starts) creates from now on owner-only.</summary>
    public static void RestrictNewFiles()
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = Umask(Convert.ToUInt32("077", 8));
        }
    }

    /// <summary>Creates the folder 0700 when missing, and takes group and other bits off it when present.</summary>
    public static void CreateDirectory(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        Directory.CreateDirectory(path, OwnerBits);
        Tighten(path);
    }

    /// <summary>Takes group and other bits off a file or folder; returns its previous mode (octal) when it changed.</summary>
    public static string? Tighten(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & ~OwnerBits) == 0)
        {
            return null;
        }

        File.SetUnixFileMode(path, mode & OwnerBits);
        return Convert.ToString((int)mode, 8);
    }

    /// <summary>Tightens the folder and everything under it (symbolic links are left alone); returns how many entries changed.</summary>
    public static int TightenTree(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (OperatingSystem.IsWindows() || !Directory.Exists(directory))
        {
            return 0;
        }

        var changed = Tighten(directory) is null ? 0 : 1;
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true };
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", options))
        {
            try
            {
                changed += Tighten(entry) is null ? 0 : 1;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A file that went away meanwhile (a rotated log) or belongs to someone else: nothing to tighten.
            }
        }

        return changed;
    }

    /// <summary>Replaces a file's content in one step, through a temporary file that is 0600 from the start.</summary>
    public static void WriteAllText(string path, string content)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(content);
        var temp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile;
        }

        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
        }

        Tighten(temp);
        File.Move(temp, path, overwrite: true);
    }

    // DllImport rather than LibraryImport: umask takes and returns a plain integer, and the source generator would need unsafe code.
    [DllImport("libc", EntryPoint = "umask", ExactSpelling = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern uint Umask(uint mask);
}
