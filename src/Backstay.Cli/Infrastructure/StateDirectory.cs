namespace Backstay.Cli.Infrastructure;

/// <summary>The state directory (`.backstay/` or --state) and what lives in it.</summary>
internal sealed class StateDirectory
{
    public StateDirectory(string? path)
    {
        Path = System.IO.Path.GetFullPath(path ?? Environment.GetEnvironmentVariable("BACKSTAY_STATE") ?? ".backstay");
    }

    public string Path { get; }

    public string LockFile => System.IO.Path.Combine(Path, "serve.lock");

    public string LogsDirectory => System.IO.Path.Combine(Path, "logs");

    /// <summary>True when a `backstay serve` holds this state directory.</summary>
    public bool ControllerRunning()
    {
        if (!File.Exists(LockFile))
        {
            return false;
        }

        try
        {
            using var probe = new FileStream(LockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Takes the controller lock; held until the returned stream is disposed.</summary>
    public FileStream AcquireControllerLock()
    {
        Backstay.Server.Hosting.StateFiles.CreateDirectory(Path);
        try
        {
            var stream = new FileStream(LockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            var pid = System.Text.Encoding.UTF8.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            stream.Write(pid);
            stream.Flush();
            return stream;
        }
        catch (IOException)
        {
            throw new CliException($"Another `backstay serve` already runs on the state directory {Path}; stop it first, or use --state for another one.", ExitCodes.Conflict);
        }
    }
}
