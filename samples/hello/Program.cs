using System.Globalization;
using Hello;

const int BadConfiguration = 2;
const int Crashed = 1;

var (settings, errors) = HelloSettings.Read(Environment.GetEnvironmentVariable);
if (errors.Count > 0)
{
    foreach (var error in errors)
    {
        await Console.Error.WriteLineAsync($"hello: {error}");
    }

    return BadConfiguration;
}

if (settings.CrashAtStart)
{
    await Console.Error.WriteLineAsync($"hello: CRASH_AT_START is set; revision {settings.Revision} exits with code {Crashed} on purpose");
    return Crashed;
}

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{settings.Port}"));

var app = builder.Build();
var served = new RequestCounts();

app.Use(async (context, next) =>
{
    context.Response.Headers["X-Revision"] = settings.Revision;
    context.Response.Headers["X-Instance"] = settings.Instance;
    await next(context);
});

app.MapGet("/healthz", () => settings.FailHealth
    ? Results.Text("failing on purpose (FAIL_HEALTH)\n", statusCode: StatusCodes.Status503ServiceUnavailable)
    : Results.Text("ok"));

app.MapGet("/", async (CancellationToken cancellationToken) =>
{
    if (settings.LatencyMs > 0)
    {
        await Task.Delay(settings.LatencyMs, cancellationToken);
    }

    // The error share is a test knob, not security.
    var fail = settings.ErrorRate > 0 && Random.Shared.NextDouble() < settings.ErrorRate;
    served.Add(fail ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK);
    return fail
        ? Results.Text($"error from revision {settings.Revision} (ERROR_RATE)\n", statusCode: StatusCodes.Status500InternalServerError)
        : Results.Text($"{settings.Greeting} from revision {settings.Revision}\n");
});

// Prometheus's text format: the requests to / by status code, for a metric provider to judge a canary by. The revision
// and service come from where Prometheus found the instance (the local runtime's prometheus-targets.json), not from here.
app.MapGet("/metrics", () => Results.Text(served.Render(), "text/plain; version=0.0.4"));

if (settings.CrashAfterMs is { } crashAfter)
{
    _ = Task.Run(async () =>
    {
        await Task.Delay(crashAfter);
        await Console.Error.WriteLineAsync($"hello: CRASH_AFTER_MS={crashAfter} reached; exiting with code {Crashed} on purpose");
        Environment.Exit(Crashed);
    });
}

await app.StartAsync();
Console.WriteLine($"hello: revision {settings.Revision} instance {settings.Instance} listening on http://127.0.0.1:{settings.Port}");
await app.WaitForShutdownAsync();
return 0;
