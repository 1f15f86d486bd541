namespace Backstay.Cli.Commands;

/// <summary>`backstay logs SERVICE [--instance ID] [--revision N] [--tail N] [--follow]`: output of a service's instances.</summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var service = Completions.Services(new Argument<string>("service") { Description = "Service" });
        var instance = new Option<string?>("--instance") { Description = "Only this instance" };
        var revision = new Option<int?>("--revision", "-r") { Description = "Only instances of this revision" };
        var tail = new Option<int>("--tail", "-n") { Description = "Lines per instance", DefaultValueFactory = _ => 50 };
        var follow = new Option<bool>("--follow") { Description = "Keep printing new lines until Ctrl+C" };
        var command = new Command("logs", "Print the logs of a service's instances") { service, instance, revision, tail, follow };
        command.SetAction(async (result, cancellationToken) =>
        {
            var state = GlobalOptions.StateDirectory(result);
            var name = result.GetValue(service)!;
            var directory = Path.Combine(state.LogsDirectory, name);
            if (!Directory.Exists(directory))
            {
                throw new CliException($"No logs for service '{name}' in {directory}; has it been deployed with this state directory?");
            }

            var files = Directory.GetFiles(directory, "*.log")
                .Where(f => result.GetValue(instance) is not { } i || Path.GetFileNameWithoutExtension(f) == i)
                .Where(f => result.GetValue(revision) is not { } r || Path.GetFileName(f).StartsWith($"{name}-r{r}-", StringComparison.Ordinal))
                .OrderBy(File.GetLastWriteTimeUtc)
                .ToList();
            if (files.Count == 0)
            {
                throw new CliException($"No log matches; instances with logs: {string.Join(", ", Directory.GetFiles(directory, "*.log").Select(Path.GetFileNameWithoutExtension))}.");
            }

            var positions = new Dictionary<string, long>();
            foreach (var file in files)
            {
                var lines = await File.ReadAllLinesAsync(file, cancellationToken);
                foreach (var line in lines.TakeLast(result.GetValue(tail)))
                {
                    Console.Out.WriteLine($"{Path.GetFileNameWithoutExtension(file)} | {line}");
                }

                positions[file] = new FileInfo(file).Length;
            }

            while (result.GetValue(follow) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(500, cancellationToken);
                foreach (var file in Directory.GetFiles(directory, "*.log"))
                {
                    var from = positions.GetValueOrDefault(file);
                    await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                    if (stream.Length <= from)
                    {
                        continue;
                    }

                    stream.Seek(from, SeekOrigin.Begin);
                    using var reader = new StreamReader(stream);
                    while (await reader.ReadLineAsync(cancellationToken) is { } line)
                    {
                        Console.Out.WriteLine($"{Path.GetFileNameWithoutExtension(file)} | {line}");
                    }

                    positions[file] = stream.Length;
                }
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }
}
