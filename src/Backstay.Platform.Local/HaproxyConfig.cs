using System.Text;

namespace Backstay.Platform.Local;

/// <summary>Writes haproxy.cfg: one production (and optional test) frontend per service, each with a backend of server slots set at run time.</summary>
internal static class HaproxyConfig
{
    /// <summary>The most server slots a backend has: the most instances of a service, all revisions together.</summary>
    public const int SlotsPerBackend = 64;

    /// <summary>
    /// Slots for a service of this many instances: room for three revisions at full count (stable, target, and one a stopped
    /// deployment left), plus two. HAProxy reserves a file descriptor per server, so 64 for every service would stop it from
    /// starting at a few hundred services under a 20,000 open-files limit.
    /// </summary>
    public static int SlotsFor(int instances) => Math.Clamp((3 * instances) + 2, 4, SlotsPerBackend);

    /// <summary>Marks Backstay's request log lines among HAProxy's other log messages: backend|server|status|Tr|Ta.</summary>
    public const string LogPrefix = "bsty1|";

    /// <summary>The backend (and frontend) of a service's listener: NAME_prod or NAME_test.</summary>
    public static string Backend(string service, Listener listener) => service + (listener == Listener.Production ? "_prod" : "_test");

    public sealed record ServiceConfig(string Name, string ProductionBind, string? TestBind, string HealthPath, TimeSpan HealthTimeout, int Slots = SlotsPerBackend);

    public static string Render(string socketPath, string stateFile, int udpPort, IEnumerable<ServiceConfig> services)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Written by Backstay; it is rewritten whenever a service or its listeners change.");
        sb.AppendLine("global");
        sb.AppendLine(ci, $"    stats socket {socketPath} mode 600 level admin expose-fd listeners");
        sb.AppendLine("    stats timeout 30s");
        sb.AppendLine(ci, $"    log 127.0.0.1:{udpPort} len 1024 format raw local0 info");
        sb.AppendLine(ci, $"    server-state-file {stateFile}");
        sb.AppendLine("    hard-stop-after 30s");
        sb.AppendLine();
        sb.AppendLine("defaults");
        sb.AppendLine("    mode http");
        sb.AppendLine("    log global");
        sb.AppendLine("    option dontlognull");
        sb.AppendLine(ci, $"    log-format \"{LogPrefix}%b|%s|%ST|%Tr|%Ta|%Ts|%ms\"");
        sb.AppendLine("    timeout connect 1s");
        sb.AppendLine("    timeout client 30s");
        sb.AppendLine("    timeout server 30s");
        sb.AppendLine("    timeout http-request 10s");
        sb.AppendLine("    timeout queue 5s");
        sb.AppendLine("    retries 3");
        sb.AppendLine("    option redispatch 1");
        sb.AppendLine("    retry-on conn-failure empty-response response-timeout 503");
        sb.AppendLine("    http-reuse safe");
        sb.AppendLine("    balance roundrobin");
        sb.AppendLine("    load-server-state-from-file global");

        foreach (var service in services)
        {
            AppendFrontend(sb, Backend(service.Name, Listener.Production), service.ProductionBind);
            AppendBackend(sb, Backend(service.Name, Listener.Production), service);
            if (service.TestBind is not null)
            {
                AppendFrontend(sb, Backend(service.Name, Listener.Test), service.TestBind);
                AppendBackend(sb, Backend(service.Name, Listener.Test), service);
            }
        }

        return sb.ToString();
    }

    private static void AppendFrontend(StringBuilder sb, string name, string bind)
    {
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"frontend {name}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    bind {bind}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    default_backend {name}");
    }

    private static void AppendBackend(StringBuilder sb, string name, ServiceConfig service)
    {
        var ci = CultureInfo.InvariantCulture;
        var timeout = Math.Max(1, (int)service.HealthTimeout.TotalMilliseconds);
        sb.AppendLine();
        sb.AppendLine(ci, $"backend {name}");
        sb.AppendLine(ci, $"    option httpchk GET {service.HealthPath}");
        sb.AppendLine(ci, $"    timeout check {timeout}ms");
        sb.AppendLine(ci, $"    server-template s 1-{service.Slots} 127.0.0.1:1 disabled weight 0 check inter 500ms fall 2 rise 1");
    }
}
