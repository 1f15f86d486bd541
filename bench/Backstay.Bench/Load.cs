using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Backstay.Bench;

/// <summary>One response as the load process saw it: when it was sent and received (µs since the Unix epoch), status (0 = no answer), X-Revision (-1 = none).</summary>
internal readonly record struct Sample(long RecvUs, long SentUs, int Status, int Revision)
{
    public bool Failed => Status is 0 or >= 500;

    public static long Us(DateTimeOffset at) => (at.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset At(long us) => DateTimeOffset.UnixEpoch.AddTicks(us * 10);
}

/// <summary>
/// `backstay-bench load`: open-loop HTTP load at a fixed rate against a loopback URL, writing one line per response
/// (received µs, sent µs, status, X-Revision) so time-to-safety can be checked from the client's side. It stops on
/// "stop" or end of standard input (with --stop-on-stdin), on SIGTERM/SIGINT, or after --max-seconds, whichever comes first.
/// </summary>
internal static class LoadProcess
{
    private const int MaxInFlight = 256;

    public static async Task<int> RunAsync(string[] argv)
    {
        var a = Args.Parse(argv);
        var url = new Uri(a.Require("url"));
        if (!url.IsLoopback)
        {
            Console.Error.WriteLine($"load: {url} is not a loopback address; this tool only sends traffic to 127.0.0.0/8 or ::1");
            return 2;
        }

        var rate = a.GetInt("rate", 300);
        var maxSeconds = a.GetInt("max-seconds", 600);
        if (rate is < 1 or > 5000 || maxSeconds is < 1 or > 7200)
        {
            Console.Error.WriteLine("load: --rate must be 1..5000 and --max-seconds 1..7200");
            return 2;
        }

        var outPath = a.Require("out");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(maxSeconds));
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        if (a.Has("stop-on-stdin"))
        {
            _ = Task.Run(() =>
            {
                try
                {
                    while (Console.In.ReadLine() is { } line && line.Trim() != "stop")
                    {
                    }
                }
                catch (IOException)
                {
                }

                stop.Cancel();
            });
        }

        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 128,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            UseProxy = false,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        var samples = new ConcurrentQueue<Sample>();
        var inFlight = 0;
        long sent = 0, skipped = 0, requests = 0, failed = 0;

        async Task SendAsync()
        {
            var sentAt = DateTimeOffset.UtcNow;
            var status = 0;
            var revision = -1;
            try
            {
                using var response = await client.GetAsync(url, HttpCompletionOption.ResponseContentRead);
                status = (int)response.StatusCode;
                if (response.Headers.TryGetValues("X-Revision", out var values)
                    && int.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var r))
                {
                    revision = r;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                status = 0;
            }
            finally
            {
                var sample = new Sample(Sample.Us(DateTimeOffset.UtcNow), Sample.Us(sentAt), status, revision);
                samples.Enqueue(sample);
                Interlocked.Increment(ref requests);
                if (sample.Failed)
                {
                    Interlocked.Increment(ref failed);
                }

                Interlocked.Decrement(ref inFlight);
            }
        }

        await using var file = new StreamWriter(outPath, append: false, Encoding.ASCII, bufferSize: 1 << 16);
        var writerStop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            var line = new StringBuilder();
            while (true)
            {
                var last = writerStop.IsCancellationRequested;
                while (samples.TryDequeue(out var s))
                {
                    line.Clear().Append(s.RecvUs).Append(',').Append(s.SentUs).Append(',').Append(s.Status).Append(',').Append(s.Revision);
                    await file.WriteLineAsync(line);
                }

                await file.FlushAsync();
                if (last)
                {
                    return;
                }

                try
                {
                    await Task.Delay(200, writerStop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        Console.Out.WriteLine("started");
        Console.Out.Flush();
        var clock = Stopwatch.StartNew();
        var lastTick = clock.Elapsed;
        var credit = 0.0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(2, stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var now = clock.Elapsed;
            credit += (now - lastTick).TotalSeconds * rate;
            lastTick = now;

            // After a stall (CPU contention) do not burst more than a quarter second of requests at once.
            if (credit > rate / 4.0)
            {
                skipped += (long)(credit - (rate / 4.0));
                credit = rate / 4.0;
            }

            for (; credit >= 1; credit--)
            {
                if (Volatile.Read(ref inFlight) >= MaxInFlight)
                {
                    skipped++;
                    continue;
                }

                Interlocked.Increment(ref inFlight);
                sent++;
                _ = SendAsync();
            }
        }

        var drain = Stopwatch.StartNew();
        while (Volatile.Read(ref inFlight) > 0 && drain.Elapsed < TimeSpan.FromSeconds(7))
        {
            await Task.Delay(20);
        }

        await writerStop.CancelAsync();
        await writer;
        Console.Out.WriteLine(JsonSerializer.Serialize(new { sent, requests, failed, skipped, seconds = Math.Round(clock.Elapsed.TotalSeconds, 1) }));
        Console.Out.Flush();
        return 0;
    }
}

/// <summary>The runner's handle on one load process it started: start, stop, and read its log.</summary>
internal sealed class LoadHandle : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _logPath;
    private bool _stopped;

    private LoadHandle(Process process, string logPath, int rate)
    {
        _process = process;
        _logPath = logPath;
        Rate = rate;
    }

    public int Rate { get; }

    public int Pid => _process.Id;

    public string? Summary { get; private set; }

    public static async Task<LoadHandle> StartAsync(string benchDll, string url, int rate, int maxSeconds, string logPath)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { benchDll, "load", "--url", url, "--rate", rate.ToString(CultureInfo.InvariantCulture),
                     "--max-seconds", maxSeconds.ToString(CultureInfo.InvariantCulture), "--out", logPath, "--stop-on-stdin" })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the load process");
        var handle = new LoadHandle(process, logPath, rate);
        var first = process.StandardOutput.ReadLineAsync();
        if (await Task.WhenAny(first, Task.Delay(TimeSpan.FromSeconds(20))) != first || await first != "started")
        {
            await handle.DisposeAsync();
            throw new InvalidOperationException($"the load process did not start: {await process.StandardError.ReadToEndAsync()}");
        }

        return handle;
    }

    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        try
        {
            await _process.StandardInput.WriteLineAsync("stop");
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            Summary = (await _process.StandardOutput.ReadToEndAsync(cts.Token)).Trim();
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public List<Sample> ReadLog()
    {
        var list = new List<Sample>();
        foreach (var line in File.ReadLines(_logPath))
        {
            var p = line.Split(',');
            if (p.Length == 4)
            {
                list.Add(new Sample(long.Parse(p[0], CultureInfo.InvariantCulture), long.Parse(p[1], CultureInfo.InvariantCulture),
                    int.Parse(p[2], CultureInfo.InvariantCulture), int.Parse(p[3], CultureInfo.InvariantCulture)));
            }
        }

        list.Sort((x, y) => x.RecvUs.CompareTo(y.RecvUs));
        return list;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
