namespace Backstay.Cli.Commands;

/// <summary>
/// `backstay release -f release.yaml`: deploys several services as one release, in dependency order, with one id, one
/// timeline and one rollback (docs/releases.md).
/// </summary>
internal static class ReleaseCommand
{
    public static Command Create()
    {
        var file = new Option<string>("--file", "-f") { Description = "Release file", DefaultValueFactory = _ => "release.yaml" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the release is recorded" };
        var command = new Command("release", "Deploy several services as one release: in dependency order, rolled back together") { file, noWait };
        command.SetAction(async (result, cancellationToken) =>
        {
            var json = GlobalOptions.Json(result);
            var path = result.GetValue(file)!;
            ReleaseRequest request;
            try
            {
                request = ReleaseLoader.Load(path);
            }
            catch (SpecException ex)
            {
                throw new CliException($"{path} is not a valid release:{Environment.NewLine}{ex.Message}");
            }

            var services = new List<ReleaseServiceRequest>();
            foreach (var service in request.Services)
            {
                var directory = Path.GetDirectoryName(Path.GetFullPath(service.Spec.SourcePath!))!;
                services.Add(service with { Provenance = await GitProvenance.ReadAsync(directory, null, null, cancellationToken) });
            }

            request = request with { Services = services, Trigger = Environment.GetEnvironmentVariable("CI") is null ? Trigger.User : Trigger.Ci };
            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            var control = session.Control;
            if (result.GetValue(noWait))
            {
                await Execution.RequireRunnerAfterExitAsync(control, services[0].Spec.Platform.Kind, "release", cancellationToken);
            }

            await using var execution = await Execution.ForReleaseAsync(result, session, [.. services.Select(s => s.Spec)], cancellationToken);
            var release = await control.StartReleaseAsync(request, Environment.UserName, cancellationToken);
            var console = json ? null : Consoles.Human;
            console?.MarkupLine($"Release [bold]{release.Id}[/]: {Markup.Escape(release.Name)}, {string.Join(", ", release.Members.Select(m => $"{m.Service} r{m.ToRevision}"))}");
            if (!result.GetValue(noWait))
            {
                release = await ReleaseReports.WaitAsync(control, execution, release.Id, console, cancellationToken);
            }

            return await ReleaseReports.FinishAsync(control, release, json, cancellationToken);
        });
        return command;
    }
}
