namespace Backstay.Cli.Commands;

/// <summary>
/// `backstay rollback SERVICE|DEPLOYMENT... [--to N] [--interactive]`: rolls the deployment in progress back, or a
/// service to an earlier revision (also after success); several services together, each reported.
/// </summary>
internal static class RollbackCommand
{
    public static Command Create()
    {
        var targets = Completions.ActiveDeployments(Completions.Services(new Argument<string[]>("targets") { Description = "Services, a deployment id, or a release id (every service of the release), to roll back", Arity = ArgumentArity.ZeroOrMore }));
        var to = new Option<int?>("--to") { Description = "Revision to roll back to (default: the previous stable revision); one service only" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Pick services and a revision among the last ones in a dialog" };
        var last = new Option<int>("--last") { Description = "How many earlier revisions the dialog offers", DefaultValueFactory = _ => 5 };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the rollbacks are recorded" };
        var command = new Command("rollback", "Roll services back to an earlier revision") { targets, to, interactive, last, noWait };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var store = session.Control;
            if (result.GetValue(targets) is [var only] && Release.LooksLikeId(only))
            {
                if (result.GetValue(to) is not null || result.GetValue(interactive))
                {
                    throw new CliException($"rollback {only}: a release goes back to the revisions it replaced; --to and --interactive are for one service.");
                }

                return await ReleaseReports.ActAsync(result, session, only, result.GetValue(noWait),
                    control => control.RollbackReleaseAsync(only, Environment.UserName, cancellationToken), "Rolling back", cancellationToken, rollingBack: true);
            }

            if (result.GetValue(targets)?.FirstOrDefault(Release.LooksLikeId) is { } release)
            {
                throw new CliException($"rollback {release}: roll a release back on its own (`backstay rollback {release}`), not together with services.");
            }

            var requests = result.GetValue(interactive)
                ? await RollbackPicker.PickAsync(store, result.GetValue(last), cancellationToken)
                : await ResolveAsync(store, result.GetValue(targets) ?? [], result.GetValue(to), state, cancellationToken);
            if (requests.Count == 0)
            {
                Consoles.Human.MarkupLine("Nothing to roll back.");
                return ExitCodes.Succeeded;
            }

            foreach (var (service, _) in requests)
            {
                if (result.GetValue(noWait) && await store.GetServiceAsync(service, cancellationToken) is { } record)
                {
                    await Execution.RequireRunnerAfterExitAsync(store, record.Platform, "rollback", cancellationToken);
                }
            }

            var executions = new Dictionary<string, Execution>(StringComparer.Ordinal);
            foreach (var (service, _) in requests)
            {
                executions[service] = await Execution.ForAsync(result, session, null, service, cancellationToken);
            }

            var followed = new List<Deployment>();
            foreach (var (service, revision) in requests)
            {
                followed.Add(await store.RollbackAsync(service, revision, Environment.UserName, cancellationToken));
            }

            var console = json ? null : Consoles.Human;
            var finals = new List<Deployment>();
            var calls = new Dictionary<string, ApiCallsReport?>(StringComparer.Ordinal);
            foreach (var deployment in followed)
            {
                console?.MarkupLine($"Rolling back [bold]{Markup.Escape(deployment.Service)}[/] (deployment {deployment.Id})");
                var final = result.GetValue(noWait) ? deployment
                    : await executions[deployment.Service].WaitAsync(deployment.Id, stopOnPause: false, console, cancellationToken);
                if (final.RolledBackBy is { } rollbackId && await store.GetDeploymentAsync(rollbackId, cancellationToken) is { } rollback)
                {
                    final = rollback;
                }

                finals.Add(final);
                calls[final.Id] = executions[deployment.Service].ApiCalls;
            }

            foreach (var execution in executions.Values)
            {
                await execution.DisposeAsync();
            }

            if (finals.Count == 1)
            {
                return await DeployCommand.FinishAsync(store, finals[0], json, cancellationToken, calls[finals[0].Id]);
            }

            return await ReportAllAsync(store, finals, calls, json, cancellationToken);
        });
        return command;
    }

    private static async Task<List<(string Service, int? Revision)>> ResolveAsync(IControlPlane store, string[] targets, int? to, StateDirectory state,
        CancellationToken cancellationToken)
    {
        if (targets.Length == 0)
        {
            throw new CliException("rollback: name a service (or several), a deployment id, or use --interactive.");
        }

        if (to is not null && targets.Length > 1)
        {
            throw new CliException("rollback: --to picks one revision, so it needs exactly one service.");
        }

        var requests = new List<(string, int?)>();
        foreach (var target in targets)
        {
            if (await store.GetDeploymentAsync(target, cancellationToken) is { } deployment)
            {
                // Rolling back a finished deployment means going back to what it replaced.
                requests.Add((deployment.Service, deployment.IsActive ? null : to ?? deployment.StableRevision));
                continue;
            }

            await StatusCommand.RequireServiceAsync(store, target, cancellationToken, state);
            requests.Add((target, to));
        }

        return requests;
    }

    private static async Task<int> ReportAllAsync(IControlPlane store, List<Deployment> finals, Dictionary<string, ApiCallsReport?> calls, bool json, CancellationToken cancellationToken)
    {
        var reports = new List<DeploymentReport>();
        foreach (var final in finals)
        {
            reports.Add(await Reports.BuildAsync(store, final, withEvents: json, cancellationToken, calls[final.Id]));
        }

        if (json)
        {
            Console.Out.WriteLine(BackstayJson.Serialize(new RollbacksReport(Reports.SchemaVersion, reports), Reports.Json));
        }
        else
        {
            var table = new Table().AddColumns("Service", "Deployment", "Revision", "Outcome", "Reason");
            foreach (var r in reports)
            {
                table.AddRow(Markup.Escape(r.Service), r.Id, r.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Outcome, Markup.Escape(r.Reason ?? ""));
            }

            Consoles.Human.Write(table);
        }

        return finals.Select(Reports.ExitCode).DefaultIfEmpty(ExitCodes.Succeeded).Max();
    }
}
