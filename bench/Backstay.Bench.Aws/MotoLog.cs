using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Web;

namespace Backstay.Bench.Aws;

/// <summary>
/// moto's request recorder (MOTO_ENABLE_RECORDING / MOTO_RECORDER_FILEPATH): one JSON line per request received,
/// {headers, method, url, body, body_encoded}. A request is attributed to the access key in its SigV4 Authorization
/// header (Credential=KEY/date/region/service/aws4_request) and named "service:Operation" like Backstay's counter:
/// the operation is the X-Amz-Target header's suffix (JSON 1.1: ECS, ECR, Application Auto Scaling) or the form
/// body's Action (Query: ELBv2, CloudWatch).
/// </summary>
internal sealed partial class MotoLog
{
    private readonly Dictionary<string, Dictionary<string, int>> _byKey = new(StringComparer.Ordinal);

    public int Lines { get; private set; }

    public int Unattributed { get; private set; }

    public int Unreadable { get; private set; }

    /// <summary>Reads the file moto appended to and adds its requests; then the caller resets the recording.</summary>
    public void Add(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }

        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            Lines++;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                string? auth = null, target = null;
                if (root.TryGetProperty("headers", out var headers) && headers.ValueKind == JsonValueKind.Object)
                {
                    foreach (var h in headers.EnumerateObject())
                    {
                        if (h.Name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                        {
                            auth = h.Value.GetString();
                        }
                        else if (h.Name.Equals("X-Amz-Target", StringComparison.OrdinalIgnoreCase))
                        {
                            target = h.Value.GetString();
                        }
                    }
                }

                var credential = auth is null ? null : CredentialPattern().Match(auth);
                if (credential is not { Success: true })
                {
                    Unattributed++;
                    continue;
                }

                var op = target is { } t ? t[(t.LastIndexOf('.') + 1)..] : ActionOf(root);
                var name = $"{credential.Groups["service"].Value}:{op ?? "?"}";
                var key = credential.Groups["key"].Value;
                if (!_byKey.TryGetValue(key, out var ops))
                {
                    _byKey[key] = ops = new Dictionary<string, int>(StringComparer.Ordinal);
                }

                ops[name] = ops.GetValueOrDefault(name) + 1;
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
            {
                Unreadable++;
            }
        }
    }

    /// <summary>The requests moto received signed with this key, by "service:Operation" (empty when none).</summary>
    public Dictionary<string, int> For(string key) => _byKey.TryGetValue(key, out var ops) ? ops : new Dictionary<string, int>(StringComparer.Ordinal);

    private static string? ActionOf(JsonElement root)
    {
        if (!root.TryGetProperty("body", out var b) || b.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        var body = b.GetString() ?? "";
        if (root.TryGetProperty("body_encoded", out var enc) && enc.ValueKind == JsonValueKind.True)
        {
            body = Encoding.UTF8.GetString(Convert.FromBase64String(body));
        }

        return HttpUtility.ParseQueryString(body)["Action"];
    }

    [GeneratedRegex(@"Credential=(?<key>[^/]+)/[^/]+/[^/]+/(?<service>[^/]+)/aws4_request")]
    private static partial Regex CredentialPattern();
}
