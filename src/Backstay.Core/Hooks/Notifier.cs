using System.Globalization;
using System.Text;
using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Spec;

namespace Backstay.Core.Hooks;

/// <summary>What a notification says about a deployment.</summary>
public sealed record NotificationEvent
{
    public required string Event { get; init; }
    public required string DeploymentId { get; init; }
    public required string Service { get; init; }
    public int Revision { get; init; }
    public int? StableRevision { get; init; }
    public required string Strategy { get; init; }
    public string? Reason { get; init; }
    public DateTimeOffset At { get; init; }

    public static NotificationEvent From(string name, Deployment deployment, DateTimeOffset at) => new()
    {
        Event = name,
        DeploymentId = deployment.Id,
        Service = deployment.Service,
        Revision = deployment.TargetRevision,
        StableRevision = deployment.StableRevision,
        Strategy = deployment.Strategy,
        Reason = deployment.Reason,
        At = at,
    };
}

/// <summary>
/// Posts deployment news to the webhooks a spec names: Backstay's JSON document, or a Slack-compatible
/// <c>{"text": ...}</c> payload; signed like http hooks when a secret is configured. One try and one retry,
/// each with a timeout; a failure is reported, never fatal to the deployment.
/// </summary>
public static class Notifier
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static JsonSerializerOptions JsonOptions => CoreJson.Web;

    /// <summary>Sends the event to every webhook that asked for it; returns a line per failed webhook.</summary>
    public static async Task<IReadOnlyList<string>> SendAsync(IReadOnlyList<NotificationSpec> webhooks, NotificationEvent news, HttpClient client,
        Func<string, string?> environment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(webhooks);
        ArgumentNullException.ThrowIfNull(news);
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(environment);
        var failures = new List<string>();
        foreach (var webhook in webhooks.Where(w => w.Events.Contains(news.Event)))
        {
            var body = webhook.Format == "slack"
                ? BackstayJson.Serialize(new SlackMessage(SlackText(news)), JsonOptions)
                : BackstayJson.Serialize(news, JsonOptions);
            var error = await PostAsync(client, webhook, body, environment, cancellationToken);
            if (error is not null)
            {
                failures.Add($"notification to {Redact(webhook.Url)} failed: {error}");
            }
        }

        return failures;
    }

    public static string SlackText(NotificationEvent news)
    {
        ArgumentNullException.ThrowIfNull(news);
        var what = news.Event switch
        {
            "started" => "started deploying",
            "paused" => "is paused, waiting for `backstay continue " + news.DeploymentId + "`, at",
            "succeeded" => "deployed",
            "rolledBack" => "rolled back",
            "failed" => "failed to deploy",
            "stopped" => "stopped deploying",
            _ => news.Event,
        };
        var from = news.StableRevision is { } s ? string.Create(CultureInfo.InvariantCulture, $" (stable: revision {s})") : "";
        var why = string.IsNullOrEmpty(news.Reason) ? "" : $": {news.Reason}";
        return string.Create(CultureInfo.InvariantCulture, $"Backstay: {news.Service} {what} revision {news.Revision}{from} with {news.Strategy}, deployment {news.DeploymentId}{why}");
    }

    private static async Task<string?> PostAsync(HttpClient client, NotificationSpec webhook, string body, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        string? secret = null;
        if (webhook.SecretEnv is { } name && string.IsNullOrEmpty(secret = environment(name)))
        {
            return $"the secret environment variable {name} is not set";
        }

        string? error = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            if (secret is not null)
            {
                request.Headers.Add(HttpHookRunner.SignatureHeader, HttpHookRunner.Sign(secret, body));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                using var response = await client.SendAsync(request, timeout.Token);
                if (response.IsSuccessStatusCode)
                {
                    return null;
                }

                error = $"HTTP {(int)response.StatusCode}";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                error = $"no answer within {Timeout.TotalSeconds:0} s";
            }
            catch (HttpRequestException ex)
            {
                error = ex.Message;
            }
        }

        return error;
    }

    /// <summary>Webhook URLs carry their secret in the path (Slack's do); logs show only the host.</summary>
    public static string Redact(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? $"{uri.Scheme}://{uri.Authority}/…" : "(invalid url)";
}

/// <summary>A Slack-compatible payload: <c>{"text": ...}</c>.</summary>
internal sealed record SlackMessage(string Text);
