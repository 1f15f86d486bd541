using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Backstay.Core.Ports;

namespace Backstay.Cli.Infrastructure;

/// <summary>The control plane of a controller, through its REST API: same calls, same results, same errors as in-process.</summary>
internal sealed class HttpControlPlane : IControlPlane
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _client;

    public HttpControlPlane(Uri server, string? token)
    {
        _client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) }) { BaseAddress = server, Timeout = Timeout };
        if (token is not null)
        {
            _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri Server => _client.BaseAddress!;

    public Task<Deployment> DeployAsync(DeployRequest request, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Deployment>(HttpMethod.Post, $"api/services/{Esc(request.Spec.Service)}/deployments", request, request.Spec.Service, cancellationToken);

    public Task<Deployment> RollbackAsync(string service, int? toRevision, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Deployment>(HttpMethod.Post, $"api/services/{Esc(service)}/rollback", new RollbackRequestBody(toRevision), service, cancellationToken);

    public Task<Deployment> ContinueAsync(string deploymentId, string? hookId, bool full, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Deployment>(HttpMethod.Post, $"api/deployments/{Esc(deploymentId)}/continue", new ContinueRequestBody(hookId, full), null, cancellationToken);

    public Task<Deployment> StopAsync(string deploymentId, bool rollback, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Deployment>(HttpMethod.Post, $"api/deployments/{Esc(deploymentId)}/stop", new StopRequestBody(rollback), null, cancellationToken);

    public Task<Deployment> ResetAsync(string service, ResetMode mode, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Deployment>(HttpMethod.Post, $"api/services/{Esc(service)}/reset", new ResetRequestBody(mode.ToString()), service, cancellationToken);

    public Task<ReleaseStatus> AcknowledgeAsync(string service, string? note, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<ReleaseStatus>(HttpMethod.Post, $"api/services/{Esc(service)}/acknowledge", new AcknowledgeRequestBody(note), service, cancellationToken);

    public Task<IReadOnlyList<ServiceRecord>> ListServicesAsync(CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<ServiceRecord>>("api/services", cancellationToken)!;

    public Task<Release> StartReleaseAsync(ReleaseRequest request, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Release>(HttpMethod.Post, "api/releases", request, null, cancellationToken);

    public Task<Release?> GetReleaseAsync(string id, CancellationToken cancellationToken) =>
        GetOrNullAsync<Release>($"api/releases/{Esc(id)}", cancellationToken);

    public Task<IReadOnlyList<Release>> ListReleasesAsync(int limit, CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<Release>>($"api/releases?limit={limit}", cancellationToken);

    public Task<Release> RollbackReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Release>(HttpMethod.Post, $"api/releases/{Esc(id)}/rollback", null, null, cancellationToken);

    public Task<Release> ContinueReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Release>(HttpMethod.Post, $"api/releases/{Esc(id)}/continue", null, null, cancellationToken);

    public Task<Release> StopReleaseAsync(string id, string requestedBy, CancellationToken cancellationToken) =>
        SendAsync<Release>(HttpMethod.Post, $"api/releases/{Esc(id)}/stop", null, null, cancellationToken);

    public Task<ServiceRecord?> GetServiceAsync(string name, CancellationToken cancellationToken) =>
        GetOrNullAsync<ServiceRecord>($"api/services/{Esc(name)}", cancellationToken);

    public Task<IReadOnlyList<Revision>> ListRevisionsAsync(string service, CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<Revision>>($"api/services/{Esc(service)}/revisions", cancellationToken);

    public Task<IReadOnlyList<Deployment>> ListDeploymentsAsync(string? service, int limit, CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<Deployment>>(service is null ? $"api/deployments?limit={limit}" : $"api/services/{Esc(service)}/deployments?limit={limit}", cancellationToken);

    public Task<IReadOnlyList<Deployment>> ListActiveDeploymentsAsync(CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<Deployment>>("api/deployments?active=true&limit=1000", cancellationToken);

    public Task<Deployment?> GetDeploymentAsync(string id, CancellationToken cancellationToken) =>
        GetOrNullAsync<Deployment>($"api/deployments/{Esc(id)}", cancellationToken);

    /// <summary>A deployment's timeline, or a release's (its id starts "rel-"), as the store keeps both.</summary>
    public Task<IReadOnlyList<DeploymentEvent>> ListEventsAsync(string deploymentId, long afterSequence, CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<DeploymentEvent>>(
            $"api/{(Release.LooksLikeId(deploymentId) ? "releases" : "deployments")}/{Esc(deploymentId)}/events?after={afterSequence}", cancellationToken);

    public Task<IReadOnlyList<HookRun>> ListHookRunsAsync(string deploymentId, CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<HookRun>>($"api/deployments/{Esc(deploymentId)}/hooks", cancellationToken);

    public Task<IReadOnlyList<string>> DriftAsync(string service, CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<string>>($"api/services/{Esc(service)}/drift", cancellationToken);

    /// <summary>The controller's tokens (admin only): names and roles, never the tokens.</summary>
    public Task<IReadOnlyList<TokenListing>> ListTokensAsync(CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<TokenListing>>("api/tokens", cancellationToken);

    /// <summary>Makes a named token (admin only); the answer is the only place the token is shown.</summary>
    public Task<NewToken> CreateTokenAsync(string name, string role, CancellationToken cancellationToken) =>
        SendAsync<NewToken>(HttpMethod.Post, "api/tokens", new CreateTokenRequestBody(name, role), null, cancellationToken);

    /// <summary>Revokes a named token (admin only); its dashboard sessions end with it.</summary>
    public async Task RevokeTokenAsync(string name, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, new Uri($"api/tokens/{Esc(name)}", UriKind.Relative));
        using var response = await SendRawAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, null, cancellationToken);
        }
    }

    public async Task<bool> ControllerRunningAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetAsync(new Uri("healthz", UriKind.Relative), cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) =>
        await SendAsync<T>(HttpMethod.Get, path, null, null, cancellationToken);

    private async Task<T?> GetOrNullAsync<T>(string path, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await SendAsync<T>(HttpMethod.Get, path, null, null, cancellationToken);
        }
        catch (InvalidRequestException ex) when (ex.Data["status"] is HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, string? service, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, Reports.Json.GetTypeInfo(body.GetType()));
        }

        using (var response = await SendRawAsync(request, cancellationToken))
        {
            if (response.IsSuccessStatusCode)
            {
                return await response.Content.ReadFromJsonAsync(BackstayJson.TypeInfo<T>(Reports.Json), cancellationToken)
                    ?? throw new CliException($"The controller at {Server} sent an empty answer to {method} /{path}.", ExitCodes.Error);
            }

            throw await ErrorAsync(response, service, cancellationToken);
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new CliException($"The controller at {Server} did not answer ({ex.Message}); is `backstay serve` running? Check --server or BACKSTAY_SERVER.", ExitCodes.NoController);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException($"The controller at {Server} did not answer within {Timeout.TotalSeconds:0} s.", ExitCodes.Error);
        }
    }

    private async Task<Exception> ErrorAsync(HttpResponseMessage response, string? service, CancellationToken cancellationToken)
    {
        string message;
        string? kind = null;
        string? active = null;
        try
        {
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            var root = document.RootElement;
            // A problem document (RFC 9457) carries the words in detail; controllers before it in error.
            message = root.TryGetProperty("detail", out var d) ? d.GetString() ?? ""
                : root.TryGetProperty("error", out var e) ? e.GetString() ?? "" : response.ReasonPhrase ?? "";
            kind = root.TryGetProperty("kind", out var k) ? k.GetString() : null;
            active = root.TryGetProperty("activeDeploymentId", out var a) ? a.GetString() : null;
        }
        catch (JsonException)
        {
            message = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        }

        return (response.StatusCode, kind) switch
        {
            (HttpStatusCode.Unauthorized, _) => new CliException($"The controller at {Server} refused the token; give --token or BACKSTAY_TOKEN (the admin token is in the server's <state>/token).", ExitCodes.Error),
            (HttpStatusCode.Forbidden, _) => new CliException($"The controller refused: {message}", ExitCodes.Error),
            (HttpStatusCode.UnsupportedMediaType or HttpStatusCode.RequestEntityTooLarge, _) => new InvalidRequestException(message),
            (_, "conflict") when active is not null => new DeploymentConflictException(service ?? "?", active),
            (_, "drift") => new DriftException(message),
            (HttpStatusCode.NotFound, _) => new InvalidRequestException(message) { Data = { ["status"] = HttpStatusCode.NotFound } },
            (HttpStatusCode.BadRequest or HttpStatusCode.Conflict, _) => new InvalidRequestException(message),
            _ => new CliException($"The controller at {Server} failed: HTTP {(int)response.StatusCode}: {message}", ExitCodes.Error),
        };
    }

    private static string Esc(string value) => Uri.EscapeDataString(value);
}

/// <summary>A token as `GET /api/tokens` lists it.</summary>
internal sealed record TokenListing(string Name, string Role, DateTimeOffset? CreatedAt, string? CreatedBy, bool Bootstrap);

/// <summary>The answer to `POST /api/tokens`.</summary>
internal sealed record NewToken(string Name, string Role, string Token);
