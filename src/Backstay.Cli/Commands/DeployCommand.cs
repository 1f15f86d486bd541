using System.CommandLine;
using System.Text.Json;
using Backstay.Cli.Infrastructure;
using Backstay.Core.Engine;
using Backstay.Core.Model;
using Backstay.Core.Spec;
using Spectre.Console;

namespace Backstay.Cli.Commands;

/// <summary>`backstay deploy`: records a new revision from the spec and deploys it through the running controller.</summary>
internal static class DeployCommand
{
    /// <summary>How old the controller's last look at the platform may be to refuse a deployment on drift before it is recorded.</summary>
    internal static readonly TimeSpan DriftMaxAge = TimeSpan.FromSeconds(15);

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
            RequireController(state);

            await using var store = await state.OpenStoreAsync(cancellationToken);
            var deployments = new Deployments(store, TimeProvider.System, new LocalImageResolver(Builtins.Images));
            var specDirectory = Path.GetDirectoryName(Path.GetFullPath(spec.SourcePath!))!;
            var provenance = await GitProvenance.ReadAsync(specDirectory, result.GetValue(commit), result.GetValue(message), cancellationToken);
            await deployments.EnsureNoActiveAsync(spec.Service, cancellationToken);
            var console = json ? null : Consoles.Human;
            if (result.GetValue(reset) && await store.GetServiceAsync(spec.Service, cancellationToken) is not null)
            {
                var adopted = await ResetCommand.RunAsync(store, spec.Service, ResetMode.Adopt, console, cancellationToken);
                if (adopted.State != DeploymentState.Succeeded)
                {
                    return await FinishAsync(store, adopted, json, cancellationToken);
                }
            }
            else if (await deployments.DriftAsync(spec.Service, DriftMaxAge, cancellationToken) is { Count: > 0 } drift)
            {
                throw new CliException(DriftDetector.Describe(spec.Service, drift), ExitCodes.Drift);
            }

            var revision = await deployments.CreateRevisionAsync(spec, result.GetValue(image), overrides, provenance, cancellationToken);
            var deployment = await deployments.StartAsync(spec, revision, Environment.GetEnvironmentVariable("CI") is null ? Trigger.User : Trigger.Ci,
                Environment.UserName, cancellationToken);
            console?.MarkupLine($"Deployment [bold]{deployment.Id}[/]: {Markup.Escape(spec.Service)} revision {revision.Number} ({Markup.Escape(revision.Image)}{(revision.Digest is null ? "" : " " + revision.Digest[..19])})");
            if (result.GetValue(noWait))
            {
                return await FinishAsync(store, deployment, json, cancellationToken);
            }

            var final = await new DeploymentWatcher(store, console).WaitAsync(deployment.Id, stopOnPause: true, cancellationToken);
            return await FinishAsync(store, final, json, cancellationToken);
        });
        return command;
    }

    internal static async Task<int> FinishAsync(Backstay.Core.Ports.IStateStore store, Deployment deployment, bool json, CancellationToken cancellationToken)
    {
        var report = await Reports.BuildAsync(store, deployment, withEvents: json, cancellationToken);
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(report, Reports.Json));
        }
        else
        {
            var colour = report.Outcome switch { "Succeeded" => "green", "RolledBack" or "Failed" => "red", "Paused" => "yellow", _ => "default" };
            Consoles.Human.MarkupLine($"[{colour} bold]{report.Outcome}[/]: deployment {report.Id} of {Markup.Escape(report.Service)} revision {report.Revision}{(report.Reason is null ? "" : " — " + Markup.Escape(report.Reason))}");
            if (report.Outcome == "Paused")
            {
                Consoles.Human.MarkupLine($"Continue with [bold]backstay continue {report.Id}[/], or roll back with [bold]backstay rollback {Markup.Escape(report.Service)}[/].");
            }
        }

        return deployment.State is DeploymentState.Pending or DeploymentState.InProgress ? ExitCodes.Succeeded : Reports.ExitCode(deployment);
    }

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

    internal static void RequireController(StateDirectory state)
    {
        if (!state.ControllerRunning())
        {
            throw new CliException(
                $"No `backstay serve` is running for the state directory {state.Path}. The local platform runs inside it: start `backstay serve` in another terminal (same directory, or --state), then deploy again. `backstay demo` shows everything in one command.",
                ExitCodes.NoController);
        }
    }
}
