using System.Text;
using System.Text.Json;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>One AWS request moto answered: the operation ("ecs:UpdateTaskSet", "elasticloadbalancing:ModifyListener") and its body.</summary>
public sealed record MotoRequest(string Operation, string Body, string UserAgent)
{
    public override string ToString() => $"{Operation} {Body}";
}

/// <summary>
/// moto's recorder file (MOTO_ENABLE_RECORDING): every request the server answered, in order. A test marks where it
/// stands with <see cref="Count"/> and reads what came after with <see cref="Since"/>; the collection runs its tests one
/// at a time, so requests after a mark are the test's own and those of the processes it started.
/// </summary>
public sealed class MotoRequestLog(string path)
{
    /// <summary>Calls that change what runs or what serves; tags Backstay keeps about a deployment are not among them.</summary>
    public static readonly IReadOnlySet<string> Mutating = new HashSet<string>(StringComparer.Ordinal)
    {
        "ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:CreateTaskSet", "ecs:UpdateTaskSet", "ecs:DeleteTaskSet",
        "ecs:UpdateServicePrimaryTaskSet", "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:UntagResource",
        "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
        "application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
    };

    public string Path { get; } = path;

    /// <summary>How many requests the log holds now.</summary>
    public int Count() => Read().Count;

    /// <summary>The requests answered after the first <paramref name="mark"/> ones.</summary>
    public IReadOnlyList<MotoRequest> Since(int mark) => Read().Skip(mark).ToList();

    private List<MotoRequest> Read()
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var requests = new List<MotoRequest>();
        while (reader.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line) || !line.EndsWith('}'))
            {
                // A line moto is still writing.
                break;
            }

            using var entry = JsonDocument.Parse(line);
            var root = entry.RootElement;
            var headers = root.GetProperty("headers");
            var body = root.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "";
            if (root.TryGetProperty("body_encoded", out var encoded) && encoded.ValueKind == JsonValueKind.True)
            {
                body = Encoding.UTF8.GetString(Convert.FromBase64String(body));
            }

            requests.Add(new MotoRequest(OperationOf(headers, body), body, Header(headers, "User-Agent") ?? ""));
        }

        return requests;
    }

    private static string OperationOf(JsonElement headers, string body)
    {
        var service = Header(headers, "Authorization") is { } authorization && authorization.Split("Credential=") is [_, var credential, ..]
            ? credential.Split('/') is { Length: > 3 } scope ? scope[3] : "?"
            : "?";
        if (Header(headers, "X-Amz-Target") is { } target)
        {
            return $"{service}:{target[(target.LastIndexOf('.') + 1)..]}";
        }

        var action = body.Split('&').Select(p => p.Split('=', 2)).FirstOrDefault(p => p[0] == "Action");
        return $"{service}:{(action is { Length: 2 } ? Uri.UnescapeDataString(action[1]) : "?")}";
    }

    private static string? Header(JsonElement headers, string name) =>
        headers.EnumerateObject().FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Value is { ValueKind: JsonValueKind.String } value
            ? value.GetString()
            : null;
}
