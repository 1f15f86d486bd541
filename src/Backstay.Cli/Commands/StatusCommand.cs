using System.Globalization;
using Backstay.Cli.Runtime;
using Backstay.Core.Analysis;
using Backstay.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Backstay.Cli.Commands;

/// <summary>`backstay status [SERVICE]`: every service's stable revision and the deployment in progress.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var service = Completions.Services(new Argument<string?>("service") { Description = "Only this service (or a release id: that release)", Arity = ArgumentArity.ZeroOrOne });
        var command = new Command("status", "Show services and deployments in progress") { service };
        command.SetAction(async (result, cancellationToken) =>
        {
            var state = GlobalOptions.StateDirectory(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            var name = result.GetValue(service);
            if (name is not null && Core.Releases.Release.LooksLikeId(name))
            {
                var release = await ReleaseReports.RequireAsync(store, name, cancellationToken);
                await ReleaseReports.FinishAsync(store, release, GlobalOptions.Json(result), cancellationToken);
                return ExitCodes.Succeeded;
            }

            var services = name is null ? await store.ListServicesAsync(cancellationToken) : [await RequireServiceAsync(store, name, cancellationToken, state)];
            var active = await store.ListActiveDeploymentsAsync(cancellationToken);
            var running = await store.ControllerRunningAsync(cancellationToken);
            var unreadable = session.Runtime is { } inProcess ? await ReadEcsBackAsync(inProcess, services, cancellationToken) : new Dictionary<string, string>();
            // Two reads per service, eight services at a time: with hundreds of services one after another takes seconds.
            var found = new ServiceStatus[services.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, services.Count), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
                async (i, ct) =>
                {
                    var s = services[i];
                    var deployment = active.FirstOrDefault(d => d.Service == s.Name && d.State != DeploymentState.RollingBack)
                        ?? active.FirstOrDefault(d => d.Service == s.Name);
                    var recent = await store.ListDeploymentsAsync(s.Name, 20, ct);
                    var last = recent.FirstOrDefault();
                    var release = await ReleaseStatus.OfAsync(recent, store.ListEventsAsync, ct) is { } r ? ReleaseReport.From(r, TimeProvider.System.GetUtcNow()) : null;
                    var drift = unreadable.TryGetValue(s.Name, out var gone) ? [gone] : await store.DriftAsync(s.Name, ct);
                    var lastDrift = last is null ? [] : await Reports.DriftOfAsync(store, last, ct);
                    var haproxyRestart = last is null ? null : await Reports.LastHaproxyRestartAsync(store, last.Id, ct);
                    var warm = recent.FirstOrDefault(d => d.WarmRevision is not null) is { WarmRevision: { } w, WarmUntil: { } until } keeping
                        ? new WarmReport(w, until, keeping.Id) : null;
                    found[i] = new ServiceStatus(s.Name, s.Platform, s.StableRevision, s.DesiredCount, deployment?.Id, deployment?.State.ToString(),
                        deployment is null ? null : $"{Math.Min(deployment.CurrentStep + 1, deployment.TotalSteps)}/{deployment.TotalSteps}",
                        deployment?.TargetRevision, deployment?.TargetWeight, DeploymentProgress.Parse(deployment?.ProgressJson),
                        last?.Id, last is null ? null : Reports.Outcome(last, lastDrift.Count > 0), release, drift, haproxyRestart, warm);
                });
            var rows = found.ToList();

            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(new StatusReport(Reports.SchemaVersion, running, rows), Reports.Json));
                return ExitCodes.Succeeded;
            }

            if (!running && rows.Any(r => PlatformKinds.NeedsController(r.Platform)))
            {
                Consoles.Human.MarkupLine($"[yellow]No `backstay serve` is running for {Markup.Escape(state.Path)}; local services are not being served.[/]");
            }

            if (rows.Count == 0)
            {
                Consoles.Human.MarkupLine("No services yet. Deploy one with [bold]backstay deploy -f backstay.yaml[/]; one deployed from another state directory (another CI job) is read back from AWS with [bold]backstay import -f backstay.yaml[/] (deploy imports it too).");
                return ExitCodes.Succeeded;
            }

            // "Release" is what the latest release came to: a rolled-back one stays red after its rollback succeeded.
            var table = new Table().AddColumns("Service", "Platform", "Stable", "Instances", "In progress", "State", "Step", "Traffic", "Release", "Drift");
            foreach (var r in rows)
            {
                table.AddRow(Markup.Escape(r.Service), r.Platform, r.StableRevision?.ToString(CultureInfo.InvariantCulture) ?? "-", r.DesiredCount.ToString(CultureInfo.InvariantCulture),
                    r.DeploymentId ?? "-", r.State ?? "-", r.Step ?? "-",
                    r.TargetRevision is { } t ? $"r{t} {r.TargetWeight}%" : r.StableRevision is { } s ? $"r{s} 100%" : "-",
                    Release(r.Release), r.Drift.Count > 0 ? "[red]yes[/]" : "no");
            }

            Consoles.Human.Write(table);

            // Beside health, the analysis: every instance may pass its health checks while the revision fails its requests.
            foreach (var r in rows.Where(r => r.Progress?.Analysis is not null))
            {
                var a = r.Progress!.Analysis!;
                var (word, colour) = a.Verdict switch
                {
                    Verdict.Fail => ("failing", "red"),
                    Verdict.Pass => ("passing", "green"),
                    _ => ("judging", "blue"),
                };
                var toRollBack = a.Verdict == Verdict.Fail ? $" ({a.Failures} of {a.FailuresToRollBack} failed looks in a row roll back)" : "";
                Consoles.Human.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                    $"{Markup.Escape(r.Service)} r{r.TargetRevision} analysis [{colour}]{word}[/]: {Markup.Escape(a.Reason)}{toRollBack}, {(int)Math.Max(0, (TimeProvider.System.GetUtcNow() - a.At).TotalSeconds)} s ago"));
            }

            foreach (var r in rows.Where(r => r.Drift.Count > 0))
            {
                // A reset waits for the deployment in progress to end; a paused one is stopped (or rolled back) first.
                var message = r.State == nameof(DeploymentState.Paused)
                    ? $"Deployment {r.DeploymentId} of '{r.Service}' is paused, but the platform differs from what it set: {string.Join("; ", r.Drift)}. Backstay will not guess: " +
                      $"`backstay stop {r.DeploymentId}` then `backstay reset {r.Service}`, or `backstay rollback {r.Service}`."
                    : DriftDetector.Describe(r.Service, r.Drift);
                Consoles.Human.MarkupLine($"[red]{Markup.Escape(message)}[/]");
            }

            foreach (var r in rows.Where(r => r.Warm is not null))
            {
                Consoles.Human.MarkupLine($"{Markup.Escape(r.Service)}: revision {r.Warm!.Revision} warm until {r.Warm.Until.ToLocalTime():HH:mm:ss} (deployment {r.Warm.DeploymentId}; `backstay continue --full {r.Warm.DeploymentId}` ends it now)");
            }

            foreach (var r in rows.Where(r => r.HaproxyRestart is not null))
            {
                Consoles.Human.MarkupLine($"[yellow]{Markup.Escape(r.Service)}: at {r.HaproxyRestart!.At.ToLocalTime():HH:mm:ss} {Markup.Escape(r.HaproxyRestart.Message)} See `backstay history {Markup.Escape(r.Service)} --events`.[/]");
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }

    /// <summary>
    /// ECS services need no controller, so nothing may have looked at them lately: read each back here (in parallel,
    /// eight at a time) and record what was seen, which the drift comparison then uses. Returns the services the platform
    /// says were deleted or changed beyond reading, with its words.
    /// </summary>
    private static async Task<Dictionary<string, string>> ReadEcsBackAsync(BackstayRuntime inProcess, IReadOnlyList<ServiceRecord> services, CancellationToken cancellationToken)
    {
        var unreadable = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var ecs = services.Where(s => !PlatformKinds.NeedsController(s.Platform)).ToList();
        if (ecs.Count == 0)
        {
            return [];
        }

        using var logs = CliLogging.Create(LogLevel.Warning, toStandardError: true);
        await using var runtime = await inProcess.StartEcsAsync(logs.CreateLogger("backstay.ecs"), engineOwner: null, cancellationToken);
        var platform = runtime.Ecs;
        await Parallel.ForEachAsync(ecs, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (service, ct) =>
        {
            try
            {
                var spec = BackstayJson.Deserialize<ServiceSpec>(service.SpecJson, BackstayJson.Options)
                    ?? throw new PlatformException($"The stored spec of '{service.Name}' is empty.");
                await platform.AttachAsync(spec, ct);
                await runtime.Store.SaveObservationAsync(await Observations.ReadAsync(platform, service.Name, TimeProvider.System, ct), ct);
            }
            catch (PlatformDriftException ex)
            {
                unreadable[service.Name] = ex.Message;
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                // Credentials, network or throttling: status still shows the record, and says what it could not read.
                await Console.Error.WriteLineAsync($"Could not read ECS service '{service.Name}' back: {ex.Message} Its drift is not known.");
            }
        });
        return unreadable.ToDictionary(StringComparer.Ordinal);
    }

    /// <param name="state">The state directory when the store is the local one: an empty one answers how to read a service back.</param>
    internal static async Task<ServiceRecord> RequireServiceAsync(IControlPlane store, string name, CancellationToken cancellationToken, StateDirectory? state = null)
    {
        var service = await store.GetServiceAsync(name, cancellationToken);
        if (service is not null)
        {
            return service;
        }

        var known = await store.ListServicesAsync(cancellationToken);
        if (known.Count == 0 && state is not null && store is InProcessControlPlane)
        {
            throw new CliException(EcsImport.NotRecorded($"service '{name}'", state.Path));
        }

        throw new CliException($"Unknown service '{name}'. Known services: {(known.Count == 0 ? "none yet (deploy one with `backstay deploy`)" : string.Join(", ", known.Select(k => k.Name)))}.");
    }

    private static string Release(ReleaseReport? release) => release switch
    {
        null => "-",
        { Incident: true } => $"[red]{Markup.Escape(release.Summary)}[/]",
        { State: ReleaseState.Succeeded } => $"[green]{Markup.Escape(release.Summary)}[/]",
        _ => $"[yellow]{Markup.Escape(release.Summary)}[/]",
    };

    internal sealed record ServiceStatus(string Service, string Platform, int? StableRevision, int DesiredCount, string? DeploymentId, string? State,
        string? Step, int? TargetRevision, int? TargetWeight, DeploymentProgress? Progress, string? LastDeploymentId, string? LastOutcome,
        ReleaseReport? Release, IReadOnlyList<string> Drift, EventReport? HaproxyRestart, WarmReport? Warm);

    /// <summary>The previous revision a blue/green deployment keeps running, without traffic, until the engine retires it.</summary>
    internal sealed record WarmReport(int Revision, DateTimeOffset Until, string DeploymentId);
}
