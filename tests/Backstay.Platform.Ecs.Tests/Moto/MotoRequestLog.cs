using System.Text;
using System.Text.Json;
using System.Web;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>
/// moto's own request recorder (/moto-api/recorder/*): every request the server received while it recorded, named
/// "service:Operation" from the X-Amz-Target header (JSON 1.1: ECS, Application Auto Scaling) or the form body's
/// Action (Query: ELBv2, CloudWatch). What a test asserts on is what reached moto, not what Backstay says it sent.
/// </summary>
public sealed class MotoRequestLog
{
    /// <summary>Calls that change an ECS service, its task sets or a listener; the task-set agent sends none of them.</summary>
    public static readonly IReadOnlySet<string> Mutating = new HashSet<string>(StringComparer.Ordinal)
    {
        "ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:CreateTaskSet", "ecs:UpdateTaskSet", "ecs:DeleteTaskSet",
        "ecs:UpdateServicePrimaryTaskSet", "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:TagResource", "ecs:UntagResource",
        "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
        "application-autoscaling:RegisterScalableTarget",
    };

    private readonly Uri _endpoint;

    public MotoRequestLog(Uri endpoint) => _endpoint = endpoint;

    /// <summary>Empties the recording and starts recording every request from now on.</summary>
    public async Task StartAsync()
    {
        using var http = new HttpClient { Timeout = MotoWorld.CallTimeout };
        (await http.PostAsync(new Uri(_endpoint, "/moto-api/recorder/reset-recording"), null)).EnsureSuccessStatusCode();
        (await http.PostAsync(new Uri(_endpoint, "/moto-api/recorder/start-recording"), null)).EnsureSuccessStatusCode();
    }

    /// <summary>Stops recording and returns the operations received since <see cref="StartAsync"/>, in order.</summary>
    public async Task<IReadOnlyList<string>> StopAsync()
    {
        using var http = new HttpClient { Timeout = MotoWorld.CallTimeout };
        (await http.PostAsync(new Uri(_endpoint, "/moto-api/recorder/stop-recording"), null)).EnsureSuccessStatusCode();
        var text = await http.GetStringAsync(new Uri(_endpoint, "/moto-api/recorder/download-recording"));
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Operation).ToList();
    }

    private static string Operation(string line)
    {
        var root = JsonDocument.Parse(line).RootElement;
        string? auth = null, target = null;
        foreach (var header in root.GetProperty("headers").EnumerateObject())
        {
            if (header.Name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            {
                auth = header.Value.GetString();
            }
            else if (header.Name.Equals("X-Amz-Target", StringComparison.OrdinalIgnoreCase))
            {
                target = header.Value.GetString();
            }
        }

        // Credential=KEY/date/region/SERVICE/aws4_request
        var service = auth?.Split("Credential=").ElementAtOrDefault(1)?.Split('/').ElementAtOrDefault(3) ?? "?";
        if (target is not null)
        {
            return $"{service}:{target[(target.LastIndexOf('.') + 1)..]}";
        }

        var body = root.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() ?? "" : "";
        if (root.TryGetProperty("body_encoded", out var encoded) && encoded.ValueKind == JsonValueKind.True)
        {
            body = Encoding.UTF8.GetString(Convert.FromBase64String(body));
        }

        return $"{service}:{HttpUtility.ParseQueryString(body)["Action"] ?? "?"}";
    }
}
