using System.Text.Json;
using Backstay.Core.Model;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>Typed calls to one JSON 1.1 service.</summary>
internal sealed class JsonServiceClient(AwsHttpClient http, AwsService service, AwsEndpoint endpoint, JsonSerializerOptions json)
{
    public AwsEndpoint Endpoint => endpoint;

    public async Task<TResponse> CallAsync<TRequest, TResponse>(string operation, TRequest request, CancellationToken cancellationToken)
        where TResponse : new()
    {
        var body = BackstayJson.Serialize(request, json);
        var text = await http.SendJsonAsync(service, endpoint, operation, body, cancellationToken);
        return string.IsNullOrWhiteSpace(text) ? new TResponse() : BackstayJson.Deserialize<TResponse>(text, json) ?? new TResponse();
    }

    /// <summary>An operation Backstay does not model, for test set-up: the raw JSON in and out.</summary>
    public Task<string> CallRawAsync(string operation, string json, CancellationToken cancellationToken) =>
        http.SendJsonAsync(service, endpoint, operation, json, cancellationToken);
}

/// <summary>Calls to one Query service; answers are parsed by the typed client.</summary>
internal sealed class QueryServiceClient(AwsHttpClient http, AwsService service, AwsEndpoint endpoint)
{
    public AwsEndpoint Endpoint => endpoint;

    public async Task<System.Xml.Linq.XElement> CallAsync(string operation, List<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken)
    {
        var text = await http.SendQueryAsync(service, endpoint, operation, parameters, cancellationToken);
        return QueryXml.Result(text, operation);
    }
}
