using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Backstay.Cli.Infrastructure;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Control;
using Spectre.Console;

namespace Backstay.Cli.Commands;

/// <summary>`backstay status [SERVICE]`: every service's stable revision and the deployment in progress.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var service = new Argument<string?>("service") { Description = "Only this service", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("status", "Show services and deployments in progress") { service };
        command.SetAction(async (result, cancellationToken) =>
        {
            var state = GlobalOptions.StateDirectory(result);
            await using var store = await ControlPlanes.OpenAsync(result, cancellationToken);
            var name = result.GetValue(service);
            var services = name is null ? await store.ListServicesAsync(cancellationToken) : [await RequireServiceAsync(store, name, cancellationToken)];
            var active = await store.ListActiveDeploymentsAsync(cancellationToken);
            var running = await store.ControllerRunningAsync(cancellationToken);
            // Two reads per service, eight services at a time: with hundreds of services one after another takes seconds.
            var found = new ServiceStatus[services.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, services.Count), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
                async (i, ct) =>
                {
                    var s = services[i];
                    var deployment = active.FirstOrDefault(d => d.Service == s.Name && d.State != DeploymentState.RollingBack)
                        ?? active.FirstOrDefault(d => d.Service == s.Name);
                    var last = (await store.ListDeploymentsAsync(s.Name, 1, ct)).FirstOrDefault();
                    var drift = await store.DriftAsync(s.Name, ct);
                    var haproxyRestart = last is null ? null : await Reports.LastHaproxyRestartAsync(store, last.Id, ct);
                    found[i] = new ServiceStatus(s.Name, s.Platform, s.StableRevision, s.DesiredCount, deployment?.Id, deployment?.State.ToString(),
                        deployment is null ? null : $"{Math.Min(deployment.CurrentStep + 1, deployment.TotalSteps)}/{deployment.TotalSteps}",
                        deployment?.TargetRevision, deployment?.TargetWeight, DeploymentProgress.Parse(deployment?.ProgressJson),
                        last?.Id, last is null ? null : Reports.Outcome(last), drift, haproxyRestart);
                });
            var rows = found.ToList();

            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new { controllerRunning = running, services = rows }, Reports.Json));
                return ExitCodes.Succeeded;
            }

            if (!running)
            {
                Consoles.Human.MarkupLine($"[yellow]No `backstay serve` is running for {Markup.Escape(state.Path)}; local services are not being served.[/]");
            }

            if (rows.Count == 0)
            {
                Consoles.Human.MarkupLine("No services yet. Deploy one with [bold]backstay deploy -f backstay.yaml[/].");
                return ExitCodes.Succeeded;
            }

            var table = new Table().AddColumns("Service", "Platform", "Stable", "Instances", "In progress", "State", "Step", "Traffic", "Last outcome", "Drift");
            foreach (var r in rows)
            {
                table.AddRow(Markup.Escape(r.Service), r.Platform, r.StableRevision?.ToString(CultureInfo.InvariantCulture) ?? "-", r.DesiredCount.ToString(CultureInfo.InvariantCulture),
                    r.DeploymentId ?? "-", r.State ?? "-", r.Step ?? "-",
                    r.TargetRevision is { } t ? $"r{t} {r.TargetWeight}%" : r.StableRevision is { } s ? $"r{s} 100%" : "-",
                    r.LastOutcome ?? "-", r.Drift.Count > 0 ? "[red]yes[/]" : "no");
            }

            Consoles.Human.Write(table);
            foreach (var r in rows.Where(r => r.Drift.Count > 0))
            {
                Consoles.Human.MarkupLine($"[red]{Markup.Escape(DriftDetector.Describe(r.Service, r.Drift))}[/]");
            }

            foreach (var r in rows.Where(r => r.HaproxyRestart is not null))
            {
                Consoles.Human.MarkupLine($"[yellow]{Markup.Escape(r.Service)}: at {r.HaproxyRestart!.At.ToLocalTime():HH:mm:ss} {Markup.Escape(r.HaproxyRestart.Message)} See `backstay history {Markup.Escape(r.Service)} --events`.[/]");
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }

    internal static async Task<ServiceRecord> RequireServiceAsync(IControlPlane store, string name, CancellationToken cancellationToken)
    {
        var service = await store.GetServiceAsync(name, cancellationToken);
        if (service is not null)
        {
            return service;
        }

        var known = await store.ListServicesAsync(cancellationToken);
        throw new CliException($"Unknown service '{name}'. Known services: {(known.Count == 0 ? "none yet (deploy one with `backstay deploy`)" : string.Join(", ", known.Select(k => k.Name)))}.");
    }

    private sealed record ServiceStatus(string Service, string Platform, int? StableRevision, int DesiredCount, string? DeploymentId, string? State,
        string? Step, int? TargetRevision, int? TargetWeight, DeploymentProgress? Progress, string? LastDeploymentId, string? LastOutcome,
        IReadOnlyList<string> Drift, EventReport? HaproxyRestart);
}
