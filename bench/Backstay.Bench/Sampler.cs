using System.Diagnostics;

namespace Backstay.Bench;

/// <summary>Reads serve's footprint from /proc over a span: RSS every 250 ms, CPU per second, HAProxy, the instances, the store.</summary>
internal static class FootprintSampler
{
    public static async Task<Footprint> SampleAsync(ServeHandle serve, string when, int services, int inProgress, int seconds)
    {
        var pid = serve.Pid;
        var (haproxy, instances) = serve.PlatformPids();
        var instanceTicks0 = instances.Sum(p => ProcFs.CpuTicks(p) ?? 0);
        var haproxyTicks0 = haproxy is { } h0 ? ProcFs.CpuTicks(h0) : null;
        var machine0 = ProcFs.MachineTicks();
        var ticks0 = ProcFs.CpuTicks(pid);
        var sw = Stopwatch.StartNew();
        var rss = new List<double>();
        var cpuPerSecond = new List<double>();
        var (secondTicks, secondAt) = (ticks0, sw.Elapsed);
        while (sw.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            if (ProcFs.RssKb(pid) is { } kb)
            {
                rss.Add(kb);
            }

            if (sw.Elapsed - secondAt >= TimeSpan.FromSeconds(1) && ProcFs.CpuTicks(pid) is { } now && secondTicks is { } before)
            {
                cpuPerSecond.Add((now - before) / ProcFs.ClockTicksPerSecond / (sw.Elapsed - secondAt).TotalSeconds * 100);
                (secondTicks, secondAt) = (now, sw.Elapsed);
            }

            await Task.Delay(250);
        }

        var ticks1 = ProcFs.CpuTicks(pid);
        var span = sw.Elapsed.TotalSeconds;
        var machine1 = ProcFs.MachineTicks();
        double? Percent(long? from, long? to) => from is { } a && to is { } b ? (b - a) / ProcFs.ClockTicksPerSecond / span * 100 : null;
        var instancesNow = serve.PlatformPids().Instances;
        var store = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(serve.State).Where(f => f.Contains(".db", StringComparison.Ordinal) || f.EndsWith(".sqlite", StringComparison.Ordinal)))
        {
            store[Path.GetFileName(f)] = new FileInfo(f).Length;
        }

        var footprint = new Footprint(when, services, inProgress, rss.Count > 0 ? (long)Stats.Median(rss)! : null,
            ProcFs.PeakRssKb(pid), ProcFs.Threads(pid), Percent(ticks0, ticks1), span,
            haproxy is { } h ? ProcFs.RssKb(h) : null, instancesNow.Count, instancesNow.Sum(p => ProcFs.RssKb(p) ?? 0), store.Count > 0 ? store.Values.Sum() : null)
        {
            ServeRssSamplesKb = rss,
            ServeCpuPerSecond = cpuPerSecond,
            HaproxyCpuPercent = haproxy is { } h1 ? Percent(haproxyTicks0, ProcFs.CpuTicks(h1)) : null,
            InstancesPssKb = instancesNow.Sum(p => ProcFs.PssKb(p) ?? 0),
            InstancesCpuPercent = Percent(instanceTicks0, instances.Sum(p => ProcFs.CpuTicks(p) ?? 0)),
            MachineCpuPercent = machine1.Total > machine0.Total ? 100.0 * (machine1.Busy - machine0.Busy) / (machine1.Total - machine0.Total) : null,
            StoreFiles = store,
        };
        Runner.Log($"  footprint '{when}': serve RSS {(rss.Count > 0 ? rss.Max() / 1024 : 0):0} MiB, CPU {footprint.ServeCpuPercent:0.0}%");
        return footprint;
    }
}
