using Microsoft.Extensions.Logging;

namespace Backstay.Cli.Infrastructure;

/// <summary>Console logging for the long-running commands.</summary>
internal static class CliLogging
{
    /// <param name="toStandardError">Every line to stderr, so a command's JSON on stdout stays clean.</param>
    public static ILoggerFactory Create(LogLevel minimum, bool toStandardError = false) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(minimum)
        .AddConsole(o => o.LogToStandardErrorThreshold = toStandardError ? LogLevel.Trace : LogLevel.None)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        }));
}

/// <summary>Hands the controller's logs to the CLI's logger factory, which the CLI disposes itself.</summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

    public void Dispose()
    {
    }
}
