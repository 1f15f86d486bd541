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
