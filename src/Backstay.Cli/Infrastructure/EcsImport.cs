using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Ports;
using Backstay.Core.Spec;
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
    public static async Task<ImportResult?> RunAsync(LocalControlPlane local, EcsPlatform platform, ServiceSpec spec, bool missingServiceIsAnError,
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

        return await new Deployments(local.Store, TimeProvider.System).ImportAsync(spec, record.Revisions, record.Latest, record.ServingRevision,
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

        return text + ".";
    }
}
