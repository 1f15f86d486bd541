namespace Backstay.Core.Hooks;

/// <summary>The one HTTP client http hooks share; each call sets its own timeout.</summary>
internal static class HookHttp
{
    public static HttpClient Client { get; } = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
