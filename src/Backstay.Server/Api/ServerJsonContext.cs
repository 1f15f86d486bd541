using System.Text.Json.Serialization;
using Backstay.Server.Hosting;
using Backstay.Server.Security;

namespace Backstay.Server.Api;

/// <summary>
/// The server's own JSON types, generated at build time (the Core records come from BackstayJson.Options' context):
/// what the API answers and reads, the error body, server.json and tokens.json. A route that answers a new type
/// names it here; <c>ServerJsonContractTests</c> serializes every answer with reflection turned off.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(List<ServiceOverview>))]
[JsonSerializable(typeof(ObservationView))]
[JsonSerializable(typeof(ControllerState))]
[JsonSerializable(typeof(WhoAmI))]
[JsonSerializable(typeof(HealthStatus))]
[JsonSerializable(typeof(RollbackBody))]
[JsonSerializable(typeof(ContinueBody))]
[JsonSerializable(typeof(StopBody))]
[JsonSerializable(typeof(ResetBody))]
[JsonSerializable(typeof(AcknowledgeBody))]
[JsonSerializable(typeof(CreateTokenBody))]
[JsonSerializable(typeof(CreatedToken))]
[JsonSerializable(typeof(IReadOnlyList<TokenInfo>))]
[JsonSerializable(typeof(List<StoredToken>))]
[JsonSerializable(typeof(ApiErrorBody))]
[JsonSerializable(typeof(ServerInfo))]
[JsonSerializable(typeof(SeriesView))]
[JsonSerializable(typeof(NoBody))]
[JsonSerializable(typeof(SeriesEvent))]
[JsonSerializable(typeof(Dashboard.LoginBody))]
[JsonSerializable(typeof(Dashboard.DashboardSession))]
internal sealed partial class ServerJsonContext : JsonSerializerContext;

/// <summary>GET /api/controller.</summary>
internal sealed record ControllerState(bool Running);

/// <summary>GET /api/whoami: the caller's role (lower case), name, and the name the history records.</summary>
internal sealed record WhoAmI(string Role, string User, string RequestedBy);

/// <summary>GET /healthz.</summary>
internal sealed record HealthStatus(string Status);
