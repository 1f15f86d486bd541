namespace Backstay.Cli.Runtime;

/// <summary>What the CLI needs to know of a platform kind (a spec's <see cref="PlatformSpec.Kind"/>, a service record's platform).</summary>
internal static class PlatformKinds
{
    /// <summary>
    /// True when only `backstay serve` runs the kind's services: the local platform's instances and HAProxy are watched
    /// by the controller's process. False for Amazon ECS, where what runs lives on AWS, so a command with no controller
    /// runs the deployment in its own runtime.
    /// </summary>
    public static bool NeedsController(string kind) => kind != PlatformSpec.EcsKind;
}
