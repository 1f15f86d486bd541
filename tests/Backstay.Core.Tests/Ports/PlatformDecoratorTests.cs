using Backstay.Core.Engine;
using Backstay.Core.Ports;

namespace Backstay.Core.Tests.Ports;

/// <summary>
/// The platforms that wrap other platforms (the router, the lease fence) must pass on every member of IPlatform: a member
/// with a default body that a wrapper does not implement silently answers the default instead of the platform's (the
/// lease fence once dropped the platform's metric providers, and custom metrics went unread).
/// </summary>
public sealed class PlatformDecoratorTests
{
    public static TheoryData<string> Wrappers => ["Backstay.Core.Ports.PlatformRouter", "Backstay.Core.Engine.LeaseFence+FencedPlatform"];

    [Theory]
    [MemberData(nameof(Wrappers))]
    public void Wrapper_ImplementsEveryPlatformMemberItself(string typeName)
    {
        var type = typeof(LeaseFence).Assembly.GetType(typeName).ShouldNotBeNull();
        var map = type.GetInterfaceMap(typeof(IPlatform));

        var defaulted = map.TargetMethods.Where(m => m.DeclaringType == typeof(IPlatform)).Select(m => m.Name).ToList();

        defaulted.ShouldBeEmpty($"{type.Name} leaves these to IPlatform's defaults instead of the wrapped platform");
    }
}
