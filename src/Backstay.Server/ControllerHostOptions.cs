namespace Backstay.Server;

/// <summary>Settings of a controller host, fixed when it is built.</summary>
public sealed record ControllerHostOptions
{
    /// <summary>Address and port to listen on, "127.0.0.1:7480" by default; port 0 picks a free port.</summary>
    public string Listen { get; init; } = "127.0.0.1:7480";

    /// <summary>Allows a non-loopback listen address; without it such an address is refused.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>The state directory: the token files and server.json live here.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>The clock of the event stream, metrics and the login cookie.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
