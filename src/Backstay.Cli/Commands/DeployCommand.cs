using Backstay.Cli.Runtime;

namespace Backstay.Cli.Commands;

/// <summary>`backstay deploy`: records a new revision from the spec and deploys it through the running controller.</summary>
internal static class DeployCommand
{
    public static Command Create()
    {
        var file = new Option<string>("--file", "-f") { Description = "Spec file", DefaultValueFactory = _ => "backstay.yaml" };
        var image = new Option<string?>("--image") { Description = "Image to deploy instead of the spec's task.image" };
        var env = new Option<string[]>("--env") { Description = "Environment override KEY=VALUE (repeatable)", AllowMultipleArgumentsPerToken = false };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the deployment is recorded" };
        var commit = new Option<string?>("--commit") { Description = "Git commit to record (default: read from the repository)" };
        var message = new Option<string?>("--message") { Description = "Commit message to record" };
        var reset = new Option<bool>("--reset") { Description = "First adopt what runs on the platform as the baseline (after a change by hand)" };
        var command = new Command("deploy", "Deploy a new revision of a service") { file, image, env, noWait, commit, message, reset };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var state = GlobalOptions.StateDirectory(result);
            var spec = LoadSpec(result.GetValue(file)!);
            var overrides = ParseEnv(result.GetValue(env) ?? []);
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var control = session.Control;
            if (result.GetValue(noWait))
            {
                await Execution.RequireRunnerAfterExitAsync(control, spec.Platform.Kind, "deploy", cancellationToken);
            }

            await using var execution = await Execution.ForAsync(result, session, spec, null, cancellationToken);
            var specDirectory = Path.GetDirectoryName(Path.GetFullPath(spec.SourcePath!))!;
            var provenance = await GitProvenance.ReadAsync(specDirectory, result.GetValue(commit), result.GetValue(message), cancellationToken);
            var console = json ? null : Consoles.Human;
            var deployment = await control.DeployAsync(new DeployRequest
            {
                Spec = spec,
                Image = result.GetValue(image),
                Env = overrides,
                Provenance = provenance,
                Trigger = Environment.GetEnvironmentVariable("CI") is null ? Trigger.User : Trigger.Ci,
                Reset = result.GetValue(reset),
            }, Environment.UserName, cancellationToken);
            console?.MarkupLine($"Deployment [bold]{deployment.Id}[/]: {Markup.Escape(spec.Service)} revision {deployment.TargetRevision}");
            if (result.GetValue(noWait))
            {
                return await FinishAsync(control, deployment, json, cancellationToken);
            }

            var final = await execution.WaitAsync(deployment.Id, stopOnPause: true, console, cancellationToken);
            var resolved = control is InProcessControlPlane { ImageResolver: ImageResolvers images } ? images.ApiCalls : new Dictionary<string, int>();
            return await FinishAsync(control, final, json, cancellationToken, execution.ApiCalls?.Plus(resolved));
        });
        return command;
    }

    internal static async Task<int> FinishAsync(IControlPlane control, Deployment deployment, bool json, CancellationToken cancellationToken, ApiCallsReport? apiCalls = null)
    {
        var report = await Reports.BuildAsync(control, deployment, withEvents: json, cancellationToken, apiCalls);
        if (json)
        {
            Console.Out.WriteLine(BackstayJson.Serialize(report, Reports.Json));
        }
        else
        {
            var colour = report.Outcome switch { "Succeeded" => "green", "RolledBack" or "Failed" or "Drift" => "red", "Paused" => "yellow", _ => "default" };
            Consoles.Human.MarkupLine($"[{colour} bold]{report.Outcome}[/]: deployment {report.Id} of {Markup.Escape(report.Service)} revision {report.Revision}{(report.Reason is null ? "" : " — " + Markup.Escape(report.Reason))}");
            if (report.WarmLine(WarmWindowKeep(deployment)) is { } warm)
            {
                Consoles.Human.MarkupLine(Markup.Escape(warm));
                if (control is InProcessControlPlane && !await control.ControllerRunningAsync(cancellationToken))
                {
                    // ECS with no controller: this process ran the deployment and ends now; nothing else is running to retire it.
                    Consoles.Human.MarkupLine(Markup.Escape(
                        $"No `backstay serve` runs for this state directory: the next backstay command that runs {report.Service}'s deployments (deploy, continue, rollback) after that time retires it; a new deployment retires it first."));
                }
            }

            if (report.Outcome == "Paused")
            {
                Consoles.Human.MarkupLine($"Continue with [bold]backstay continue {report.Id}[/], or roll back with [bold]backstay rollback {Markup.Escape(report.Service)}[/].");
            }
        }

        return deployment.State is DeploymentState.Pending or DeploymentState.InProgress ? ExitCodes.Succeeded : Reports.ExitCode(deployment, report.Drift.Count > 0);
    }

    /// <summary>The keepPreviousFor of a deployment's plan, as specs write it; null when it keeps nothing warm.</summary>
    private static string? WarmWindowKeep(Deployment deployment) =>
        DeploymentPlan.FromJson(deployment.PlanJson).Actions.OfType<WaitAction>().FirstOrDefault(w => w.Reason == WaitAction.KeepPreviousWarm) is { } keep
            ? Durations.Format(keep.Duration)
            : null;

    internal static ServiceSpec LoadSpec(string path)
    {
        try
        {
            return SpecLoader.Load(path);
        }
        catch (SpecException ex)
        {
            throw new CliException($"{path} is not a valid spec:{Environment.NewLine}{ex.Message}");
        }
    }

    internal static Dictionary<string, string> ParseEnv(IEnumerable<string> values)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new CliException($"--env '{value}': expected KEY=VALUE, e.g. --env ERROR_RATE=0.3");
            }

            var key = value[..eq];
            if (!System.Text.RegularExpressions.Regex.IsMatch(key, "^[A-Za-z_][A-Za-z0-9_]*$"))
            {
                throw new CliException($"--env '{value}': '{key}' is not a valid variable name; use letters, digits and _ and do not start with a digit");
            }

            env[key] = value[(eq + 1)..];
        }

        return env;
    }
}
