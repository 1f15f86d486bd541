namespace Backstay.Cli.Commands;

/// <summary>`backstay import`: records an ECS service and its latest deployment from AWS tags into an empty state directory.</summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var file = new Option<string>("--file", "-f") { Description = "Spec file of the service (it says where the service runs)", DefaultValueFactory = _ => "backstay.yaml" };
        var command = new Command("import", "Record an ECS service, its revisions and its latest deployment from what Backstay left on AWS, into an empty state directory") { file };
        command.SetAction(async (result, cancellationToken) =>
        {
            var spec = DeployCommand.LoadSpec(result.GetValue(file)!);
            if (spec.Platform.Ecs is null)
            {
                throw new CliException($"{spec.SourcePath}: platform.ecs is missing; import reads an ECS service (the local platform keeps its state in the state directory itself).");
            }

            await using var session = await ControlPlanes.OpenAsync(result, cancellationToken);
            if (session.Runtime is not { } inProcess)
            {
                throw new CliException("A controller answers for this state directory; import writes the local store directly. Run it with --state pointing at the CI job's directory, without --server.");
            }

            await using var ecs = await inProcess.StartEcsAsync(ecsLog: null, engineOwner: null, cancellationToken);
            var imported = await EcsImport.RunAsync(inProcess.Control, ecs.Ecs, spec, missingServiceIsAnError: true, cancellationToken)
                ?? throw new CliException($"Nothing to import for '{spec.Service}'.");
            if (imported.Skipped is { } skipped)
            {
                await Console.Error.WriteLineAsync($"Warning: {skipped}; the rest was imported.");
            }

            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(new ImportReport(
                    Reports.SchemaVersion,
                    spec.Service,
                    imported.Revisions.Where(r => !r.Removed).OrderBy(r => r.Number).Select(r => new ImportedRevision(r.Number, r.Image, r.Provenance.Commit)).ToList(),
                    imported.StableRevision,
                    imported.Skipped,
                    imported.Deployment is { } d ? new ImportedDeployment(d.Id, d.Kind.ToString(), d.State.ToString(), d.CurrentStep, d.TotalSteps, d.TargetRevision, d.TargetWeight) : null), Reports.Json));
            }
            else
            {
                Consoles.Human.MarkupLine(Markup.Escape(EcsImport.Describe(spec.Service, imported)));
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }
}
