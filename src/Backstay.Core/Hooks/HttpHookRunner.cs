using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Hooks;

/// <summary>
/// Runs an http hook: POSTs the context as JSON, signed with HMAC-SHA256 over the body when a secret is
/// configured (header <c>X-Backstay-Signature: sha256=HEX</c>); 2xx passes. Retries bounded, timeout per try.
/// </summary>
public sealed class HttpHookRunner(HttpClient client, TimeProvider time)
{
    public const string SignatureHeader = "X-Backstay-Signature";

    private static JsonSerializerOptions JsonOptions => CoreJson.Web;

    public async Task<HookOutcome> RunAsync(HttpHookSpec hook, HookContext context, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hook);
        ArgumentNullException.ThrowIfNull(environment);
        var body = BackstayJson.Serialize(context, JsonOptions);
        string? secret = null;
        if (hook.SecretEnv is { } name)
        {
            secret = environment(name);
            if (string.IsNullOrEmpty(secret))
            {
                return new HookOutcome(false, false, $"the secret environment variable {name} is not set in the controller's environment");
            }
        }

        var log = new StringBuilder();
        var timedOut = false;
        for (var attempt = 0; attempt <= hook.Retries; attempt++)
        {
            if (attempt > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * Math.Pow(2, attempt - 1)), time, cancellationToken);
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.UserAgent.Add(new ProductInfoHeaderValue("backstay", "1"));
            if (secret is not null)
            {
                request.Headers.Add(SignatureHeader, Sign(secret, body));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(hook.Timeout);
            try
            {
                using var response = await client.SendAsync(request, timeout.Token);
                var text = await response.Content.ReadAsStringAsync(timeout.Token);
                log.Append(System.Globalization.CultureInfo.InvariantCulture, $"attempt {attempt + 1}: {(int)response.StatusCode} {Cut(text)}\n");
                if (response.IsSuccessStatusCode)
                {
                    return new HookOutcome(true, false, log.ToString());
                }

                timedOut = false;
                if ((int)response.StatusCode is >= 400 and < 500 and not 408 and not 429)
                {
                    break;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                timedOut = true;
                log.Append(System.Globalization.CultureInfo.InvariantCulture, $"attempt {attempt + 1}: no answer within {hook.Timeout}\n");
            }
            catch (HttpRequestException ex)
            {
                timedOut = false;
                log.Append(System.Globalization.CultureInfo.InvariantCulture, $"attempt {attempt + 1}: {ex.Message}\n");
            }
        }

        return new HookOutcome(false, timedOut, log.ToString());
    }

    /// <summary>The signature header value for a body: "sha256=" and the lowercase hex HMAC-SHA256.</summary>
    public static string Sign(string secret, string body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));

    private static string Cut(string text) => text.Length <= 200 ? text : text[..200] + "…";
}
