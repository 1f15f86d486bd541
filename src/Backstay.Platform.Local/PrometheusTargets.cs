using System.Text;
using System.Text.Json;

namespace Backstay.Platform.Local;

/// <summary>
/// Prometheus's file-based service discovery for the local runtime: <c>local/prometheus-targets.json</c> in the state
/// directory lists every instance's address with the labels <c>service</c>, <c>revision</c> and <c>backstay_instance</c>,
/// rewritten with platform.json (<see cref="PlatformStateFile.Write"/>). A Prometheus pointed at it
/// (<c>file_sd_configs</c>) scrapes each revision's instances as they come and go, so a query such as <c>sum(rate(hello_requests_total{revision="{{revision}}"}[30s]))</c> can judge a
/// canary (docs/metric-providers.md).
/// </summary>
internal static class PrometheusTargets
{
    public const string FileName = "prometheus-targets.json";

    /// <summary>The targets of every instance with a port, as Prometheus's file_sd JSON.</summary>
    public static string Render(PersistedState state)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartArray();
            foreach (var service in state.Services)
            {
                foreach (var revision in service.Revisions)
                {
                    foreach (var instance in revision.Instances.Where(i => i.Port > 0))
                    {
                        json.WriteStartObject();
                        json.WriteStartArray("targets");
                        json.WriteStringValue(string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{instance.Port}"));
                        json.WriteEndArray();
                        json.WriteStartObject("labels");
                        json.WriteString("service", service.Name);
                        json.WriteString("revision", revision.Number.ToString(CultureInfo.InvariantCulture));
                        json.WriteString("backstay_instance", instance.Id);
                        json.WriteEndObject();
                        json.WriteEndObject();
                    }
                }
            }

            json.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
