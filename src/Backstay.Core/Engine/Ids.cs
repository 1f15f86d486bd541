using System.Security.Cryptography;

namespace Backstay.Core.Engine;

/// <summary>Deployment ids in CodeDeploy's style: "d-" and nine characters.</summary>
public static class Ids
{
    private const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    public static string NewDeploymentId() => "d-" + RandomNumberGenerator.GetString(Alphabet, 9);

    public static string NewHookId() => "h-" + RandomNumberGenerator.GetString(Alphabet, 9);
}
