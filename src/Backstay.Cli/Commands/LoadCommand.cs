using System.Globalization;

namespace Backstay.Cli.Commands;

/// <summary>`backstay load URL`: steady HTTP load at a fixed rate, with a per-revision tally every second.</summary>
internal static class LoadCommand
{
    public static Command Create()
    {
        var url = new Argument<string>("url") { Description = "URL to request, e.g. http://127.0.0.1:8080/" };
        var rate = new Option<int>("--rate") { Description = "Requests per second", DefaultValueFactory = _ => 50 };
        var duration = new Option<string?>("--duration") { Description = "Stop after this long, as in the spec: 500ms, 2s, 1m (default: until Ctrl+C)" };
        var command = new Command("load", "Send steady HTTP load to a listener and count responses per revision") { url, rate, duration };
        command.SetAction(async (result, cancellationToken) =>
        {
            var text = result.GetValue(url)!;
            if (!Uri.TryCreate(text, UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https"))
            {
                throw new CliException($"url '{text}': give an absolute http:// or https:// URL such as http://127.0.0.1:8080/");
            }

            var perSecond = result.GetValue(rate);
            if (perSecond is < 1 or > 20000)
            {
                throw new CliException($"--rate {perSecond}: give a rate from 1 to 20000 requests per second");
            }

            var stopAfter = TimeSpan.Zero;
            if (result.GetValue(duration) is { } length && !Durations.TryParse(length, out stopAfter))
            {
                throw new CliException($"--duration '{length}': give a duration as in the spec, a number and ms, s, m or h, such as 500ms, 2s or 1m");
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (stopAfter > TimeSpan.Zero)
            {
                stop.CancelAfter(stopAfter);
            }

            var time = TimeProvider.System;
            var started = time.GetUtcNow();
            var load = new LoadGenerator(target, perSecond, time);
            await using (load)
            {
                load.Start();
                var from = started;
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(1), time, stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }

                    var now = time.GetUtcNow();
                    if (!GlobalOptions.Json(result))
                    {
                        var window = load.Samples.Where(s => s.At > from && s.At <= now).ToList();
                        var byRevision = window.GroupBy(s => s.Revision).OrderBy(g => g.Key)
                            .Select(g => $"r{g.Key?.ToString(CultureInfo.InvariantCulture) ?? "?"}: {g.Count()} ({g.Count(s => s.Status is < 200 or >= 400)} failed)");
                        Consoles.Human.MarkupLine($"[grey]{now.ToLocalTime():HH:mm:ss}[/] {window.Count} req/s  {Markup.Escape(string.Join("  ", byRevision))}");
                    }

                    from = now;
                    load.Forget(now.AddSeconds(-5));
                }
            }

            var (requests, failed) = (load.Total, load.TotalFailed);
            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(new LoadReport(Reports.SchemaVersion, requests, failed, load.Skipped), Reports.Json));
            }
            else
            {
                Consoles.Human.MarkupLine($"{requests} requests, {failed} failed");
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }
}
