using System.Net;

namespace Backstay.Platform.Local;

/// <summary>A listener's "host:port" as written in the spec.</summary>
internal sealed record ListenerAddress(string Text, IPAddress Address, int Port)
{
    public static ListenerAddress Parse(string service, string what, string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            throw new PlatformException($"Service '{service}': the {what} listener '{text}' is not host:port; write it like 127.0.0.1:8080.");
        }

        var host = text[..colon].Trim('[', ']');
        var portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new PlatformException($"Service '{service}': the {what} listener '{text}' has no valid port (1-65535); write it like 127.0.0.1:8080.");
        }

        IPAddress address;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = IPAddress.Loopback;
        }
        else if (host is "*" or "0.0.0.0")
        {
            address = IPAddress.Any;
        }
        else if (!IPAddress.TryParse(host, out address!))
        {
            throw new PlatformException($"Service '{service}': the {what} listener '{text}' needs an IP address (or localhost); write it like 127.0.0.1:8080.");
        }

        return new ListenerAddress(text, address, port);
    }

    /// <summary>The address in HAProxy's bind syntax, which splits host and port at the last colon (also for IPv6).</summary>
    public string BindText => string.Create(CultureInfo.InvariantCulture, $"{Address}:{Port}");

    public override string ToString() => Text;
}
