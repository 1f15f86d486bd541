using System.Net;

namespace Backstay.Server.Hosting;

/// <summary>A parsed listen address: loopback unless remote listening was allowed on purpose.</summary>
internal sealed record ListenAddress(IPAddress Address, int Port)
{
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    /// <summary>Parses "HOST:PORT" (IPv4, [IPv6] or localhost); refuses a non-loopback host unless allowRemote.</summary>
    public static ListenAddress Parse(string value, bool allowRemote)
    {
        ArgumentNullException.ThrowIfNull(value);
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            throw new ArgumentException($"Listen address '{value}' is not HOST:PORT; for example 127.0.0.1:7480.", nameof(value));
        }

        var host = value[..colon].Trim('[', ']');
        if (!int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw new ArgumentException($"Listen address '{value}' has no valid port (0-65535).", nameof(value));
        }

        IPAddress address;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = IPAddress.Loopback;
        }
        else if (!IPAddress.TryParse(host, out address!))
        {
            throw new ArgumentException($"Listen address '{value}': '{host}' is not an IP address; give 127.0.0.1, [::1], localhost, or an interface's address.", nameof(value));
        }

        var parsed = new ListenAddress(address, port);
        if (!parsed.IsLoopback && !allowRemote)
        {
            throw new ArgumentException(
                $"Listen address '{value}' is not a loopback address. The controller listens on loopback only unless remote access is allowed on purpose " +
                "(put TLS in front of it: tokens and the dashboard cookie must not cross a network in clear text).", nameof(value));
        }

        return parsed;
    }

    /// <summary>The URL a client on this machine uses for the bound port.</summary>
    public string LocalUrl(int boundPort)
    {
        var host = Address.Equals(IPAddress.Any) ? "127.0.0.1"
            : Address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]"
            : Address.ToString();
        return string.Create(CultureInfo.InvariantCulture, $"http://{host}:{boundPort}");
    }
}
