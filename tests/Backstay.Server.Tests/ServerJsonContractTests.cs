using System.Reflection;
using System.Text.Json;
using Backstay.Core.Control;
using Backstay.Core.Model;
using Backstay.Server.Api;
using Backstay.Server.Dashboard;
using Backstay.Server.Hosting;
using Backstay.Server.Security;

namespace Backstay.Server.Tests;

/// <summary>
/// The API's JSON comes from generated contexts only (the native binary has no reflection-based JSON): every answer
/// type and every body type resolves through ApiJson's options, which have no reflection fallback, and every enum a
/// body can hold is read strictly by name. No server is started.
/// </summary>
public sealed class ServerJsonContractTests
{
    /// <summary>What the routes answer (ApiJson.Ok's T) and the error body.</summary>
    public static TheoryData<Type> Answers() =>
    [
        typeof(IReadOnlyList<ServiceRecord>), typeof(ServiceRecord), typeof(IReadOnlyList<Revision>), typeof(IReadOnlyList<Deployment>),
        typeof(List<Deployment>), typeof(Deployment), typeof(ReleaseStatus), typeof(ObservationView), typeof(IReadOnlyList<string>),
        typeof(IReadOnlyList<DeploymentEvent>), typeof(DeploymentEvent), typeof(IReadOnlyList<HookRun>), typeof(ControllerState), typeof(WhoAmI),
        typeof(List<ServiceOverview>), typeof(IReadOnlyList<TokenInfo>), typeof(CreatedToken), typeof(HealthStatus), typeof(ServerInfo),
        typeof(SeriesView), typeof(SeriesEvent), typeof(DashboardSession),
        typeof(Backstay.Core.Releases.Release), typeof(IReadOnlyList<Backstay.Core.Releases.Release>),
    ];

    [Theory]
    [MemberData(nameof(Answers))]
    public void Answer_ResolvesFromTheGeneratedContexts(Type type) => Should.NotThrow(() => ApiJson.Options.GetTypeInfo(type));

    [Fact]
    public void EveryBody_ResolvesFromTheGeneratedContexts()
    {
        foreach (var type in Bodies())
        {
            Should.NotThrow(() => ApiJson.RequestOptions.GetTypeInfo(type), type.Name);
        }

        Should.NotThrow(() => ApiJson.ErrorOptions.GetTypeInfo(typeof(ApiErrorBody)));
    }

    [Fact]
    public void Options_HaveNoReflectionFallback()
    {
        Should.Throw<NotSupportedException>(() => ApiJson.Options.GetTypeInfo(typeof(Uri)));
        Should.Throw<NotSupportedException>(() => ApiJson.RequestOptions.GetTypeInfo(typeof(Uri)));
    }

    /// <summary>Every enum reachable from a body has its strict converter in RequestOptions (names only, never numbers).</summary>
    [Fact]
    public void EveryEnumInABody_IsReadStrictlyByName()
    {
        var enums = new HashSet<Type>();
        var seen = new HashSet<Type>();
        foreach (var body in Bodies())
        {
            Walk(body, enums, seen);
        }

        enums.ShouldNotBeEmpty();
        foreach (var type in enums)
        {
            ApiJson.RequestOptions.Converters.Any(c => c.CanConvert(type)).ShouldBeTrue($"{type.Name} has no converter in ApiJson.RequestOptions");
        }

        Should.Throw<JsonException>(() => JsonSerializer.Deserialize("""{"name":"x","role":1}""", BackstayJson.TypeInfo<CreateTokenBody>(ApiJson.RequestOptions)));
        JsonSerializer.Deserialize("""{"name":"x","role":"Admin"}""", BackstayJson.TypeInfo<CreateTokenBody>(ApiJson.RequestOptions))!.Role.ShouldBe(Role.Admin);
    }

    private static IEnumerable<Type> Bodies() =>
        typeof(ApiJson).Assembly.GetTypes().Where(t => (t.Namespace == typeof(ApiJson).Namespace || t.Namespace == typeof(LoginBody).Namespace) && t.Name.EndsWith("Body", StringComparison.Ordinal) && t != typeof(ApiErrorBody))
            .Append(typeof(DeployRequest)).Append(typeof(Backstay.Core.Releases.ReleaseRequest)).Append(typeof(NoBody));

    private static void Walk(Type type, HashSet<Type> enums, HashSet<Type> seen)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (!seen.Add(type) || type == typeof(string) || type.IsPrimitive || type.Namespace?.StartsWith("System", StringComparison.Ordinal) == true && !type.IsGenericType)
        {
            return;
        }

        if (type.IsEnum)
        {
            enums.Add(type);
            return;
        }

        foreach (var argument in type.IsGenericType ? type.GetGenericArguments() : [])
        {
            Walk(argument, enums, seen);
        }

        if (type.Namespace?.StartsWith("Backstay", StringComparison.Ordinal) != true)
        {
            return;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            Walk(property.PropertyType, enums, seen);
        }

        foreach (var derived in type.Assembly.GetTypes().Where(t => t.BaseType == type))
        {
            Walk(derived, enums, seen);
        }
    }
}
