namespace Backstay.Platform.Ecs;

/// <summary>The ECS service no longer matches what Backstay set up (deleted, inactive, target groups taken); Backstay does not guess.</summary>
public sealed class EcsDriftException : PlatformDriftException
{
    public EcsDriftException()
    {
    }

    public EcsDriftException(string message)
        : base(message)
    {
    }

    public EcsDriftException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
