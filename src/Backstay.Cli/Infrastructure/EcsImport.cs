using Backstay.Core.Ports;
using Backstay.Platform.Ecs;

namespace Backstay.Cli.Infrastructure;

/// <summary>
/// Fills an empty state directory from what Backstay left on AWS about an ECS service (task definitions tagged with
/// their revision, the tag on the service saying where its latest deployment stands), so a CI job with a fresh
/// checkout numbers revisions on, knows the stable one, and can follow, continue, stop or roll back a deployment
/// another job started.
/// </summary>
internal static class EcsImport
{
    /// <summary>Imports the service when the store does not know it and AWS does; returns null when there was nothing to import.</summary>
    /// <param name="missingServiceIsAnError">`backstay import` says so; `deploy` goes on to create the service.</param>
    public static async Task<ImportResult?> RunAsync(InProcessControlPlane local, EcsPlatform platform, ServiceSpec spec, bool missingServiceIsAnError,
        CancellationToken cancellationToken)
    {
        EcsRecord record;
        try
        {
            record = await platform.ReadRecordAsync(spec, cancellationToken);
        }
        catch (PlatformDriftException) when (!missingServiceIsAnError)
        {
            // No such service yet: the deployment creates it.
            return null;
        }

        if (record.Revisions.Count == 0 && record.Latest is null)
        {
            if (missingServiceIsAnError)
            {
                throw new CliException($"ECS service of '{spec.Service}' carries nothing of Backstay's (no task definition tagged backstay:service={spec.Service}); deploy it with `backstay deploy` to adopt it.");
            }

            // A service that ran before Backstay: what it runs becomes revision 1, the stable one, before the deployment changes anything.
            if (await platform.AdoptAsync(spec, cancellationToken) is not { } adopted)
            {
                return null;
            }

            record = adopted;
        }

        return await new DeploymentRequests(local.Store, TimeProvider.System).ImportAsync(spec, record.Revisions, record.Latest, record.ServingRevision,
            Environment.UserName, cancellationToken);
    }

    public static string Describe(string service, ImportResult imported)
    {
        var live = imported.Revisions.Where(r => !r.Removed).Select(r => r.Number).Order().ToList();
        var text = $"Recorded {service} from AWS: revisions {(live.Count == 0 ? "none" : string.Join(", ", live))}" +
                   (imported.StableRevision is { } stable ? $", stable revision {stable}" : ", no stable revision");
        if (imported.Deployment is { } d)
        {
            text += d.IsActive
                ? $"; deployment {d.Id} ({d.State}, step {d.CurrentStep + 1} of {d.TotalSteps}, revision {d.TargetRevision} at {d.TargetWeight}%) carries on here"
                : $"; its latest deployment {d.Id} ended {d.State}";
        }

        if (imported.Skipped is { } skipped)
        {
            text += $"; {skipped}";
        }

        return text + ".";
    }

    /// <summary>
    /// Refuses to act from a state directory whose record of the service is older than the tag on AWS says: another
    /// process (a CI job with its own state directory) started, moved on or finished a deployment this one does not know
    /// about, and acting on the older record would run its steps again.
    /// </summary>
    public static async Task RequireCurrentAsync(InProcessControlPlane local, EcsPlatform platform, ServiceSpec spec, string statePath, CancellationToken cancellationToken)
    {
        DeploymentMark? mark;
        try
        {
            mark = await platform.ReadMarkAsync(spec, cancellationToken);
        }
        catch (PlatformDriftException)
        {
            // No service on AWS: nothing newer there; the deployment says what is wrong or creates it.
            return;
        }

        if (mark is null)
        {
            return;
        }

        var recorded = await local.Store.GetDeploymentAsync(mark.Id, cancellationToken);
        var latest = (await local.Store.ListDeploymentsAsync(spec.Service, 1, cancellationToken)).FirstOrDefault();
        var ahead = recorded switch
        {
            null when latest is null || mark.CreatedAt.ToUnixTimeSeconds() >= latest.CreatedAt.ToUnixTimeSeconds() =>
                $"AWS shows deployment {mark.Id} ({mark.Kind} of revision {mark.TargetRevision}, {mark.State}), which {statePath} has no record of",
            { IsActive: true } when !mark.State.IsActive() =>
                $"AWS shows deployment {mark.Id} {mark.State}, while {statePath} still has it {recorded.State} at step {recorded.CurrentStep + 1} of {recorded.TotalSteps}",
            { IsActive: true } when mark.CurrentStep > recorded.CurrentStep || (mark.State == DeploymentState.RollingBack && recorded.State != DeploymentState.RollingBack) =>
                $"AWS shows deployment {mark.Id} {mark.State} at step {mark.CurrentStep + 1}, while {statePath} has it {recorded.State} at step {recorded.CurrentStep + 1}",
            _ => null,
        };
        if (ahead is not null)
        {
            throw new CliException(
                $"The record of '{spec.Service}' in this state directory is older than what AWS shows: {ahead}. Nothing was changed: " +
                "this deployment was finished elsewhere; run `backstay import` into an empty state directory " +
                $"(`backstay import -f {spec.SourcePath ?? "backstay.yaml"} --state DIR`) to read the service back as it stands, and act from there.",
                ExitCodes.Conflict);
        }
    }

    /// <summary>What an empty state directory answers for a service or deployment it has no record of: how to read one back.</summary>
    public static string NotRecorded(string what, string statePath) =>
        $"The state directory {statePath} has no record of {what}: it holds nothing yet. A service deployed from another state directory " +
        "(another CI job or machine) is read back from what Backstay left on AWS with `backstay import -f backstay.yaml`, or by `backstay deploy`, which imports it first.";
}
