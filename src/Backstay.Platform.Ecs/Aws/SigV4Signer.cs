using System.Security.Cryptography;
using System.Text;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>Access key, secret and optional session token used to sign one request.</summary>
public sealed record AwsCredentials(string AccessKeyId, string SecretAccessKey, string? SessionToken = null);

/// <summary>
/// AWS Signature Version 4 for requests in the Authorization header, as the published algorithm and its test suite
/// define it: canonical request, string to sign, derived signing key, HMAC-SHA256 signature.
/// </summary>
internal static class SigV4Signer
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>Headers that are never signed: they may be changed by proxies on the way.</summary>
    private static readonly HashSet<string> Unsigned = new(StringComparer.OrdinalIgnoreCase) { "user-agent", "expect", "x-amzn-trace-id", "authorization", "content-length" };

    /// <summary>The headers to add to the request (X-Amz-Date, X-Amz-Security-Token, Authorization).</summary>
    public sealed record Result(string AmzDate, string Authorization, string SignedHeaders, string CanonicalRequest, string StringToSign);

    /// <summary>
    /// Signs a request. <paramref name="headers"/> holds the headers that will be sent besides Host and X-Amz-Date,
    /// which the signer adds itself (from the URI and the time).
    /// </summary>
    public static Result Sign(string method, Uri uri, IEnumerable<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body,
        AwsCredentials credentials, string region, string service, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(credentials);
        var utc = now.ToUniversalTime();
        var amzDate = utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = utc.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

        var all = new SortedDictionary<string, List<string>>(StringComparer.Ordinal)
        {
            ["host"] = [uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port.ToString(CultureInfo.InvariantCulture)}"],
            ["x-amz-date"] = [amzDate],
        };
        if (credentials.SessionToken is { Length: > 0 } token)
        {
            all["x-amz-security-token"] = [token];
        }

        foreach (var (name, value) in headers)
        {
            var key = name.ToLowerInvariant();
            if (Unsigned.Contains(key) || key is "host" or "x-amz-date")
            {
                continue;
            }

            if (!all.TryGetValue(key, out var values))
            {
                all[key] = values = [];
            }

            values.Add(TrimAll(value));
        }

        var signedHeaders = string.Join(';', all.Keys);
        var canonical = new StringBuilder()
            .Append(method.ToUpperInvariant()).Append('\n')
            .Append(CanonicalPath(uri)).Append('\n')
            .Append(CanonicalQuery(uri.Query)).Append('\n');
        foreach (var (name, values) in all)
        {
            canonical.Append(name).Append(':').Append(string.Join(',', values)).Append('\n');
        }

        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(Hex(SHA256.HashData(body)));
        var canonicalRequest = canonical.ToString();
        var scope = $"{date}/{region}/{service}/aws4_request";
        var stringToSign = $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        var key2 = SigningKey(credentials.SecretAccessKey, date, region, service);
        var signature = Hex(HMACSHA256.HashData(key2, Encoding.UTF8.GetBytes(stringToSign)));
        var authorization = $"{Algorithm} Credential={credentials.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new Result(amzDate, authorization, signedHeaders, canonicalRequest, stringToSign);
    }

    public static byte[] SigningKey(string secret, string date, string region, string service)
    {
        var kDate = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secret), Encoding.UTF8.GetBytes(date));
        var kRegion = HMACSHA256.HashData(kDate, Encoding.UTF8.GetBytes(region));
        var kService = HMACSHA256.HashData(kRegion, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(kService, "aws4_request"u8);
    }

    /// <summary>RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else is %XX in upper case.</summary>
    public static string UriEncode(string value, bool encodeSlash = true)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '~' || (c == '/' && !encodeSlash))
            {
                sb.Append(c);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return sb.ToString();
    }

    private static string CanonicalPath(Uri uri)
    {
        var path = uri.AbsolutePath;
        if (string.IsNullOrEmpty(path))
        {
            return "/";
        }

        // The path arrives already escaped; services other than S3 want each segment encoded once more.
        var segments = path.Split('/').Select(s => UriEncode(Uri.UnescapeDataString(s)));
        return string.Join('/', segments);
    }

    private static string CanonicalQuery(string query)
    {
        if (string.IsNullOrEmpty(query) || query == "?")
        {
            return "";
        }

        var pairs = query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p =>
            {
                var i = p.IndexOf('=', StringComparison.Ordinal);
                var name = i < 0 ? p : p[..i];
                var value = i < 0 ? "" : p[(i + 1)..];
                return (Name: UriEncode(Uri.UnescapeDataString(name)), Value: UriEncode(Uri.UnescapeDataString(value)));
            })
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ThenBy(p => p.Value, StringComparer.Ordinal);
        return string.Join('&', pairs.Select(p => $"{p.Name}={p.Value}"));
    }

    private static string TrimAll(string value)
    {
        var sb = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                space = true;
                continue;
            }

            if (space && sb.Length > 0)
            {
                sb.Append(' ');
            }

            space = false;
            sb.Append(c);
        }

        return sb.ToString();
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
