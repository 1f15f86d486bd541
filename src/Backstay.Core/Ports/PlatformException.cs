namespace Backstay.Core.Ports;

/// <summary>A platform could not do what was asked; the message says what failed and what to do.</summary>
public class PlatformException : Exception
{
    public PlatformException()
    {
    }

    public PlatformException(string message)
        : base(message)
    {
    }

    public PlatformException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The platform no longer matches what Backstay set up (a service deleted, a task set gone): stop, do not guess.</summary>
public class PlatformDriftException : PlatformException
{
    public PlatformDriftException()
    {
    }

    public PlatformDriftException(string message)
        : base(message)
    {
    }

    public PlatformDriftException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
