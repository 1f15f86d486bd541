using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Backstay.Core.Model;

namespace Backstay.Core.Tests;

/// <summary>
/// Core's JSON comes from generated contexts (the CLI ships as a native binary). Two rules keep that correct, checked here
/// over every type the contexts name: no reflection fallback, and no init-only property with a default value, because
/// generated deserialization sets every init-only property, so one missing from the JSON would get default(T) instead
/// of its default (dotnet/runtime#84484): a spec stored before a field existed, a hand-written API body.
/// </summary>
public sealed class JsonContextTests
{
    private static readonly JsonSerializerOptions[] AllOptions = [BackstayJson.Options, CoreJson.Web, CoreJson.Plain];

    [Fact]
    public void Options_HaveNoReflectionFallback()
    {
        foreach (var options in AllOptions)
        {
            Should.Throw<NotSupportedException>(() => options.GetTypeInfo(typeof(Uri)));
        }
    }

    [Fact]
    public void NoInitOnlyPropertyWithADefault_InTypesTheContextsRead()
    {
        var offenders = new List<string>();
        foreach (var type in typeof(BackstayJson).Assembly.GetTypes().Where(t => t is { IsClass: true, IsAbstract: false, IsGenericTypeDefinition: false }))
        {
            if (!AllOptions.Any(o => o.TypeInfoResolver!.GetTypeInfo(type, o) is { Kind: JsonTypeInfoKind.Object }))
            {
                continue;
            }

            if (type.GetConstructor(BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes) is null)
            {
                continue;
            }

            var fresh = Activator.CreateInstance(type)!;
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var isInitOnly = property.SetMethod?.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit)) == true;
                // Auto-properties only: a computed one (Deployment.Plan over PlanJson) has no initializer to lose.
                var isAuto = type.GetField($"<{property.Name}>k__BackingField", BindingFlags.NonPublic | BindingFlags.Instance) is not null;
                if (!isInitOnly || !isAuto || property.GetCustomAttribute<System.Text.Json.Serialization.JsonIgnoreAttribute>() is not null)
                {
                    continue;
                }

                var value = property.GetValue(fresh);
                var zero = property.PropertyType.IsValueType ? Activator.CreateInstance(property.PropertyType) : null;
                if (!Equals(value, zero))
                {
                    offenders.Add($"{type.Name}.{property.Name}");
                }
            }
        }

        offenders.ShouldBeEmpty("make these { get; set; }: generated JSON would lose their defaults when the JSON leaves them out");
    }

    /// <summary>A spec written before a member existed reads back with that member's default.</summary>
    [Fact]
    public void TaskSpec_MissingMembers_KeepTheirDefaults()
    {
        var task = BackstayJson.Deserialize<Backstay.Core.Spec.TaskSpec>("""{"image":"builtin:hello"}""", BackstayJson.Options)!;
        task.StartTimeout.ShouldBe(TimeSpan.FromSeconds(30));
        task.Port.ShouldBe(8080);
        task.Args.ShouldBeEmpty();
        task.HealthCheck.Path.ShouldBe("/healthz");
    }
}
