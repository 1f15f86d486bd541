// Over 400 lines on purpose: every request people make of a service (deploy, rollback, continue, stop, reset, import)
// and the rules that keep two of them from conflicting sit together, so that those rules are read in one place.
using System.Text.Json;
using Backstay.Core.Control;
using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Engine;

/// <summary>How a reset re-syncs the record with the platform.</summary>
public enum ResetMode
{
    Adopt,
    Recreate,
}

/// <summary>Thrown for a request that names something that does not exist or cannot be done now.</summary>
public sealed class InvalidRequestException(string message) : Exception(message);

/// <summary>What <see cref="DeploymentRequests.ImportAsync"/> recorded; <paramref name="Skipped"/> says what the platform named that could not be recorded.</summary>
public sealed record ImportResult(IReadOnlyList<Revision> Revisions, int? StableRevision, Deployment? Deployment, string? Skipped = null);

/// <summary>
/// What people and CI ask of Backstay: new revisions, deployments, rollbacks, continues. Requests are written
/// to the store; the engine (in this process or a running `backstay serve`) carries them out.
/// </summary>
public sealed class DeploymentRequests(IStateStore store, TimeProvider time, IImageResolver? imageResolver = null)
{
    private static JsonSerializerOptions JsonOptions => BackstayJson.Options;

    /// <summary>Records a new immutable revision from the spec with the overrides applied.</summary>
    public async Task<Revision> CreateRevisionAsync(ServiceSpec spec, string? image, IReadOnlyDictionary<string, string>? env,
        Provenance provenance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await EnsureNoActiveAsync(spec.Service, cancellationToken);
        var mergedEnv = new Dictionary<string, string>(spec.Task.Env, StringComparer.Ordinal);
        foreach (var (key, value) in env ?? new Dictionary<string, string>())
        {
            mergedEnv[key] = value;
        }

        var resolved = imageResolver is null
            ? new ResolvedImage(image ?? spec.Task.Image, null)
            : await imageResolver.ResolveAsync(spec, image ?? spec.Task.Image, cancellationToken);
        var task = spec.Task with { Image = resolved.Image, Env = mergedEnv };
        return await store.AddRevisionAsync(new Revision
        {
            Service = spec.Service,
            Image = resolved.Image,
            Digest = resolved.Digest,
            Env = mergedEnv,
            Port = spec.Task.Port,
            TaskJson = BackstayJson.Serialize(task, JsonOptions),
            Provenance = provenance,
            CreatedAt = time.GetUtcNow(),
        }, cancellationToken);
    }

    /// <summary>Records a deployment of the revision; the engine starts it. Throws <see cref="DeploymentConflictException"/> when one is active.</summary>
    public Task<Deployment> StartAsync(ServiceSpec spec, Revision revision, Trigger trigger, string requestedBy, CancellationToken cancellationToken) =>
        StartAsync(spec, revision, trigger, requestedBy, Ids.NewDeploymentId(), cancellationToken);

    /// <summary>As the other overload, with the deployment's id given (a release derives it, so a release resumed after a crash finds the deployment it started).</summary>
    public async Task<Deployment> StartAsync(ServiceSpec spec, Revision revision, Trigger trigger, string requestedBy, string deploymentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revision);
        var now = time.GetUtcNow();
        var service = await store.GetServiceAsync(spec.Service, cancellationToken);
        var stable = service?.StableRevision;
        if (stable == revision.Number)
        {
            stable = null;
        }

        // Written before the deployment exists: from then on the engine may finish it, and record a new stable
        // revision, before this method returns.
        await EnsureNoActiveAsync(spec.Service, cancellationToken);
        await store.UpsertServiceAsync(new ServiceRecord
        {
            Name = spec.Service,
            Platform = spec.Platform.Kind,
            StableRevision = service?.StableRevision,
            DesiredCount = service?.DesiredCount ?? spec.Platform.Instances,
            SpecJson = BackstayJson.Serialize(spec, JsonOptions),
            CreatedAt = service?.CreatedAt ?? now,
            UpdatedAt = now,
        }, cancellationToken);
        var plan = PlanBuilder.ForDeployment(spec, stable is not null);
        var deployment = DeploymentRecord.Pending(spec.Service, DeploymentKind.Deploy, trigger, stable is null ? "initial" : spec.Strategy.Kind,
            stable, revision.Number, plan, requestedBy, now) with { Id = deploymentId };
        await store.CreateDeploymentAsync(deployment, cancellationToken);
        return deployment;
    }

    /// <summary>Throws <see cref="DeploymentConflictException"/> when the service has a deployment in progress.</summary>
    public async Task EnsureNoActiveAsync(string service, CancellationToken cancellationToken)
    {
        var active = (await store.ListActiveDeploymentsAsync(cancellationToken)).FirstOrDefault(d => d.Service == service);
        if (active is not null)
        {
            throw new DeploymentConflictException(service, active.Id);
        }
    }

    /// <summary>
    /// Rolls a service back: the deployment in progress is rolled back to its stable revision; otherwise a
    /// rollback deployment to the given revision (default: the one before the stable revision) is recorded.
    /// Returns the deployment to follow.
    /// </summary>
    public async Task<Deployment> RollbackAsync(string serviceName, int? toRevision, string requestedBy, CancellationToken cancellationToken)
    {
        var service = await RequireServiceAsync(serviceName, cancellationToken);
        var active = (await store.ListActiveDeploymentsAsync(cancellationToken)).FirstOrDefault(d => d.Service == serviceName);
        if (active is not null)
        {
            if (toRevision is not null && toRevision != active.StableRevision)
            {
                throw new InvalidRequestException(
                    $"Deployment {active.Id} of '{serviceName}' is in progress; it can only be rolled back to its stable revision {active.StableRevision}. Roll it back first, then roll back to revision {toRevision}.");
            }

            if (active.Kind == DeploymentKind.Rollback || active.State == DeploymentState.RollingBack)
            {
                return active;
            }

            await store.EnqueueCommandAsync(new DeploymentCommand
            {
                DeploymentId = active.Id,
                Kind = CommandKind.Rollback,
                RequestedBy = requestedBy,
                At = time.GetUtcNow(),
            }, cancellationToken);
            return active;
        }

        var latest = (await store.ListDeploymentsAsync(serviceName, 1, cancellationToken)).FirstOrDefault();
        if (latest is { Kind: DeploymentKind.Deploy, State: DeploymentState.Stopped, StableRevision: { } before } stopped
            && before == service.StableRevision && (toRevision is null || toRevision == before))
        {
            // A stopped deployment left its target running (maybe with traffic): rolling it back restores what it replaced.
            var stoppedSpec = BackstayJson.Deserialize<ServiceSpec>(service.SpecJson, JsonOptions)
                ?? throw new InvalidOperationException($"The stored spec of '{serviceName}' is empty.");
            var count = stopped.StableCountBefore > 0 ? stopped.StableCountBefore : service.DesiredCount;
            var undo = DeploymentRecord.Pending(serviceName, DeploymentKind.Rollback, Trigger.ManualRollback, "rollback", stopped.TargetRevision, before,
                PlanBuilder.ForManualRollback(stoppedSpec, count), requestedBy, time.GetUtcNow()) with
            {
                StableCountBefore = count,
                TargetWeight = 100 - stopped.TargetWeight,
                RollbackOf = stopped.Id,
                Reason = $"rollback of stopped deployment {stopped.Id} requested by {requestedBy}",
            };
            await store.CreateDeploymentAsync(undo, cancellationToken);
            return undo;
        }

        var stable = service.StableRevision
            ?? throw new InvalidRequestException($"Service '{serviceName}' has no stable revision to roll back from.");
        var revisions = await store.ListRevisionsAsync(serviceName, cancellationToken);
        var target = toRevision ?? await PreviousStableAsync(serviceName, stable, cancellationToken)
            ?? throw new InvalidRequestException($"Service '{serviceName}' has no earlier revision than {stable} that ever served; name one with --to.");
        var revision = revisions.FirstOrDefault(r => r.Number == target)
            ?? throw new InvalidRequestException($"Service '{serviceName}' has no revision {target}; it has {string.Join(", ", revisions.Select(r => r.Number).Order())}.");
        if (revision.Removed)
        {
            throw new InvalidRequestException($"Revision {target} of '{serviceName}' was removed by retention (keepPrevious); pick one of `backstay revisions {serviceName}`.");
        }

        if (target == stable)
        {
            throw new InvalidRequestException($"Revision {target} is already the stable revision of '{serviceName}'.");
        }

        var spec = BackstayJson.Deserialize<ServiceSpec>(service.SpecJson, JsonOptions)
            ?? throw new InvalidOperationException($"The stored spec of '{serviceName}' is empty.");
        var lastSucceeded = (await store.ListDeploymentsAsync(serviceName, 50, cancellationToken))
            .FirstOrDefault(d => d.State == DeploymentState.Succeeded && d.TargetRevision == stable);
        var rollback = DeploymentRecord.Pending(serviceName, DeploymentKind.Rollback, Trigger.ManualRollback, "rollback", stable, target,
            PlanBuilder.ForManualRollback(spec, service.DesiredCount), requestedBy, time.GetUtcNow()) with
        {
            StableCountBefore = service.DesiredCount,
            RollbackOf = lastSucceeded?.Id,
            Reason = $"manual rollback to revision {target} requested by {requestedBy}",
        };
        await store.CreateDeploymentAsync(rollback, cancellationToken);
        return rollback;
    }

    /// <summary>Answers a paused deployment; full skips the remaining pauses.</summary>
    public async Task<Deployment> ContinueAsync(string deploymentId, bool full, string requestedBy, CancellationToken cancellationToken) =>
        await ContinueAsync(deploymentId, null, full, requestedBy, cancellationToken);

    /// <summary>Answers a paused deployment, or the pause hook with the given id; full skips the remaining pauses and steps.</summary>
    public async Task<Deployment> ContinueAsync(string deploymentId, string? hookId, bool full, string requestedBy, CancellationToken cancellationToken)
    {
        var deployment = await RequireDeploymentAsync(deploymentId, cancellationToken);
        if (deployment.WarmRevision is { } warm && hookId is null)
        {
            // A blue/green deployment that succeeded with its previous revision kept warm: `continue --full` ends the window now.
            if (!full)
            {
                throw new InvalidRequestException(
                    $"Deployment {deploymentId} succeeded; revision {warm} stays warm until {WarmWindow.Clock(deployment.WarmUntil!.Value)}. `backstay continue --full {deploymentId}` retires it now.");
            }

            await store.EnqueueCommandAsync(new DeploymentCommand
            {
                DeploymentId = deploymentId,
                Kind = CommandKind.ContinueFull,
                RequestedBy = requestedBy,
                At = time.GetUtcNow(),
            }, cancellationToken);
            return deployment;
        }

        if (deployment.State != DeploymentState.Paused && !(full && deployment.State == DeploymentState.InProgress))
        {
            throw new InvalidRequestException($"Deployment {deploymentId} is {deployment.State}{(deployment.IsFinished && deployment.Reason is { } why ? $" ({why})" : "")}, not Paused; there is nothing to continue.");
        }

        if (hookId is not null)
        {
            var waiting = (await store.ListHookRunsAsync(deploymentId, cancellationToken)).Where(r => r.State == HookState.AwaitingAction).ToList();
            if (waiting.All(r => r.Id != hookId))
            {
                throw new InvalidRequestException(waiting.Count == 0
                    ? $"Deployment {deploymentId} has no hook awaiting action; `continue {deploymentId}` answers its pause."
                    : $"Deployment {deploymentId} has no hook '{hookId}' awaiting action; {string.Join(", ", waiting.Select(r => $"{r.Id} ({r.Stage})"))} does.");
            }
        }

        await store.EnqueueCommandAsync(new DeploymentCommand
        {
            DeploymentId = deploymentId,
            Kind = full ? CommandKind.ContinueFull : CommandKind.Continue,
            HookId = hookId,
            RequestedBy = requestedBy,
            At = time.GetUtcNow(),
        }, cancellationToken);
        return deployment;
    }

    /// <summary>Stops a deployment at its next safe point, or rolls it back; the controller carries it out.</summary>
    public async Task<Deployment> StopAsync(string deploymentId, bool rollback, string requestedBy, CancellationToken cancellationToken)
    {
        var deployment = await RequireDeploymentAsync(deploymentId, cancellationToken);
        if (!deployment.IsActive)
        {
            throw new InvalidRequestException($"Deployment {deploymentId} is {deployment.State}; only a deployment in progress can be stopped.");
        }

        if (deployment.Kind != DeploymentKind.Deploy || deployment.State == DeploymentState.RollingBack)
        {
            throw new InvalidRequestException($"Deployment {deploymentId} is a {(deployment.State == DeploymentState.RollingBack ? "deployment being rolled back" : deployment.Kind.ToString().ToLowerInvariant())}; it is finished on purpose and cannot be stopped.");
        }

        await store.EnqueueCommandAsync(new DeploymentCommand
        {
            DeploymentId = deploymentId,
            Kind = rollback ? CommandKind.Rollback : CommandKind.Stop,
            RequestedBy = requestedBy,
            At = time.GetUtcNow(),
        }, cancellationToken);
        return deployment;
    }

    /// <summary>
    /// Records a reset of a service whose platform no longer matches the record: adopt takes what runs as the new
    /// baseline; recreate brings back the last good revision at its count with all traffic.
    /// </summary>
    public async Task<Deployment> ResetAsync(string serviceName, ResetMode mode, string requestedBy, CancellationToken cancellationToken)
    {
        var service = await RequireServiceAsync(serviceName, cancellationToken);
        await EnsureNoActiveAsync(serviceName, cancellationToken);
        if (mode == ResetMode.Recreate && service.StableRevision is null)
        {
            throw new InvalidRequestException($"Service '{serviceName}' has no last good revision to re-create; deploy one with `backstay deploy`.");
        }

        if (mode == ResetMode.Recreate && await store.GetRevisionAsync(serviceName, service.StableRevision!.Value, cancellationToken) is null)
        {
            throw new InvalidRequestException(
                $"Service '{serviceName}' records revision {service.StableRevision} as its last good revision, but that revision is not in the store; nothing was changed. Deploy a revision with `backstay deploy`.");
        }

        var spec = BackstayJson.Deserialize<ServiceSpec>(service.SpecJson, JsonOptions)
            ?? throw new InvalidOperationException($"The stored spec of '{serviceName}' is empty.");
        var plan = mode == ResetMode.Recreate ? PlanBuilder.ForRecreate(spec, service.DesiredCount) : PlanBuilder.ForAdopt(spec, service.DesiredCount);
        var reset = DeploymentRecord.Pending(serviceName, DeploymentKind.Reset, Trigger.Reset, mode == ResetMode.Recreate ? "reset-recreate" : "reset-adopt",
            null, service.StableRevision ?? 0, plan, requestedBy, time.GetUtcNow()) with
        {
            Reason = $"reset ({mode.ToString().ToLowerInvariant()}) requested by {requestedBy}",
        };
        await store.CreateDeploymentAsync(reset, cancellationToken);
        return reset;
    }

    /// <summary>Differences between a service's record and the platform as the controller last saw it; empty when none or not known.</summary>
    public async Task<IReadOnlyList<string>> DriftAsync(string serviceName, TimeSpan maxAge, CancellationToken cancellationToken)
    {
        var service = await store.GetServiceAsync(serviceName, cancellationToken);
        var observation = await store.GetObservationAsync(serviceName, cancellationToken);
        if (service is null || observation is null || time.GetUtcNow() - observation.At > maxAge)
        {
            return [];
        }

        // Only a look taken after the last deployment ended says anything about the record as it is now.
        var last = (await store.ListDeploymentsAsync(serviceName, 1, cancellationToken)).FirstOrDefault();
        if (last is { State: DeploymentState.Paused, Kind: DeploymentKind.Deploy } paused)
        {
            // A paused deployment holds still: a look taken since its pause step began (journaled before it acts) is compared with what it set.
            var stepStartedAt = (await store.ListJournalAsync(paused.Id, cancellationToken))
                .LastOrDefault(e => e.Step == paused.CurrentStep && e.Phase == StepPhase.Started)?.At;
            return stepStartedAt is { } at && observation.At > at
                ? DriftDetector.CompareDeployment(paused, DeploymentPlan.FromJson(paused.PlanJson), observation)
                : [];
        }

        if (last is not null && (last.IsActive || last.FinishedAt is not { } finished || observation.At <= finished))
        {
            return [];
        }

        // Nor does one taken before the previous revision's warm window ended: it ran then on purpose.
        if (last?.WarmEndedAt is { } warmEnded && observation.At <= warmEnded)
        {
            return [];
        }

        // A previous revision kept warm after a blue/green deployment runs on purpose until its window ends.
        return DriftDetector.Compare(service, observation, last?.WarmRevision);
    }

    private async Task<Deployment> RequireDeploymentAsync(string deploymentId, CancellationToken cancellationToken) =>
        await store.GetDeploymentAsync(deploymentId, cancellationToken)
        ?? throw new InvalidRequestException($"Unknown deployment '{deploymentId}'; `backstay history SERVICE` lists a service's deployments.");

    /// <summary>
    /// Records a service this store has never seen from what the platform keeps about it (ECS: task definitions and the
    /// tag on the service): its revisions with their numbers (numbers no longer found are recorded as removed) and its
    /// latest deployment, which the engine then carries on from its current step when it is still in progress.
    /// </summary>
    public async Task<ImportResult> ImportAsync(ServiceSpec spec, IReadOnlyList<Revision> revisions, DeploymentMark? latest, int? serving,
        string requestedBy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(revisions);
        if (await store.GetServiceAsync(spec.Service, cancellationToken) is not null)
        {
            throw new InvalidRequestException(
                $"Service '{spec.Service}' is already on record in this store; import only fills an empty one (`backstay status {spec.Service}` shows what is recorded).");
        }

        var byNumber = revisions.ToDictionary(r => r.Number);
        string? skipped = null;
        if (serving is { } unknownServing && !byNumber.ContainsKey(unknownServing))
        {
            serving = null;
        }

        // A mark naming a revision whose definition is gone (deregistered by hand, or a tag left by a version of Backstay
        // that marked deployments before their revision was registered) cannot be carried on: the rest is still true.
        if (latest is not null && new[] { latest.TargetRevision, latest.StableRevision }.OfType<int>().Where(n => !byNumber.ContainsKey(n)).Select(n => (int?)n).FirstOrDefault() is { } missing)
        {
            skipped = $"deployment {latest.Id} ({latest.Kind} of revision {latest.TargetRevision}, {latest.State}) named by the platform was not imported: " +
                      $"revision {missing} has no definition on the platform (never registered, or deregistered by hand)";
            serving ??= latest.StableRevision is { } before && byNumber.ContainsKey(before) ? before : null;
            latest = null;
        }

        var now = time.GetUtcNow();
        var plan = PlanFor(spec, latest);
        if (latest is { Kind: DeploymentKind.Deploy } mark && mark.State.IsActive() && plan.Actions.Count != mark.TotalSteps)
        {
            throw new InvalidRequestException(
                $"Deployment {mark.Id} of '{spec.Service}' has {mark.TotalSteps} steps, but {spec.SourcePath ?? "the spec"} gives a plan of {plan.Actions.Count}: " +
                "it was started from another version of the spec. Import with the spec file of the commit that started it; nothing was imported.");
        }

        var last = revisions.Count == 0 ? 0 : revisions.Max(r => r.Number);
        for (var number = 1; number <= last; number++)
        {
            var found = byNumber.TryGetValue(number, out var revision);
            var added = await store.AddRevisionAsync((found ? revision! : new Revision
            {
                Service = spec.Service,
                Image = "(not found on the platform)",
                Port = spec.Task.Port,
            }) with { Service = spec.Service, CreatedAt = now }, cancellationToken);
            if (added.Number != number)
            {
                throw new InvalidOperationException($"The store numbered an imported revision {added.Number} instead of {number}.");
            }

            if (!found)
            {
                await store.MarkRevisionRemovedAsync(spec.Service, number, cancellationToken);
            }
        }

        var stable = latest switch
        {
            { State: DeploymentState.Succeeded } => latest.TargetRevision,
            { Kind: DeploymentKind.Deploy } when latest.State.IsActive() => latest.StableRevision,
            _ => serving ?? latest?.StableRevision,
        };
        await store.UpsertServiceAsync(new ServiceRecord
        {
            Name = spec.Service,
            Platform = spec.Platform.Kind,
            StableRevision = stable,
            DesiredCount = spec.Platform.Instances,
            SpecJson = BackstayJson.Serialize(spec, JsonOptions),
            CreatedAt = now,
            UpdatedAt = now,
        }, cancellationToken);

        Deployment? deployment = null;
        if (latest is not null)
        {
            deployment = new Deployment
            {
                Id = latest.Id,
                Service = spec.Service,
                Kind = latest.Kind,
                Trigger = Trigger.User,
                Strategy = latest.Strategy,
                StableRevision = latest.StableRevision,
                TargetRevision = latest.TargetRevision,
                State = latest.State,
                CurrentStep = latest.CurrentStep,
                StepPhase = latest.StepPhase,
                TotalSteps = plan.Actions.Count,
                StableCountBefore = latest.StableCountBefore,
                TargetWeight = latest.TargetWeight,
                TestTrafficOnTarget = latest.TestTrafficOnTarget,
                RollbackOf = latest.RollbackOf,
                WarmUntil = latest.State == DeploymentState.Succeeded ? latest.WarmUntil : null,
                PlanJson = plan.ToJson(),
                RequestedBy = requestedBy,
                CreatedAt = latest.CreatedAt,
                UpdatedAt = now,
            };
            await store.CreateDeploymentAsync(deployment, cancellationToken);
            await store.AppendEventAsync(new DeploymentEvent
            {
                DeploymentId = deployment.Id,
                At = now,
                Type = "Imported",
                Message = $"recorded by {requestedBy} from what the platform keeps: {latest.State}, step {latest.CurrentStep + 1} of {latest.TotalSteps}, " +
                          $"revision {latest.TargetRevision} at {latest.TargetWeight}%" + (latest.StableRevision is { } s ? $" over revision {s}" : "") +
                          (deployment.IsActive ? "; it carries on from the start of that step" : ""),
            }, cancellationToken);
        }

        return new ImportResult(await store.ListRevisionsAsync(spec.Service, cancellationToken), stable, deployment, skipped);
    }

    /// <summary>An imported deployment of a new revision follows the spec's plan; a rollback or reset plans itself again.</summary>
    private static DeploymentPlan PlanFor(ServiceSpec spec, DeploymentMark? mark) =>
        mark is { Kind: DeploymentKind.Deploy } && mark.State.IsActive()
            ? PlanBuilder.ForDeployment(spec, mark.StableRevision is not null)
            : PlanBuilder.Replanned(spec);

    /// <summary>The last revision before stable that a deployment made stable.</summary>
    private async Task<int?> PreviousStableAsync(string service, int stable, CancellationToken cancellationToken)
    {
        var deployments = await store.ListDeploymentsAsync(service, 500, cancellationToken);
        var revisions = (await store.ListRevisionsAsync(service, cancellationToken)).Where(r => !r.Removed).Select(r => r.Number).ToHashSet();
        return deployments
            .Where(d => d.State == DeploymentState.Succeeded && d.TargetRevision != stable && revisions.Contains(d.TargetRevision))
            .Select(d => (int?)d.TargetRevision)
            .FirstOrDefault()
            // Or what the deployment that made it stable replaced (all a store imported from the platform may know).
            ?? deployments
                .Where(d => d is { State: DeploymentState.Succeeded, Kind: DeploymentKind.Deploy, StableRevision: not null } && d.TargetRevision == stable
                    && revisions.Contains(d.StableRevision!.Value))
                .Select(d => d.StableRevision)
                .FirstOrDefault();
    }

    /// <summary>
    /// Records that a person knows about the service's latest release having gone wrong (rolled back or failed): it is
    /// no longer shown as an open incident, and the release's timeline says who, when and why. Nothing on the platform
    /// changes. Refused when the latest release did not go wrong or was acknowledged already.
    /// </summary>
    public async Task<ReleaseStatus> AcknowledgeAsync(string serviceName, string? note, string requestedBy, CancellationToken cancellationToken)
    {
        await RequireServiceAsync(serviceName, cancellationToken);
        var release = await ReleaseStatus.ReadAsync(store, serviceName, cancellationToken)
            ?? throw new InvalidRequestException($"Nothing to acknowledge: '{serviceName}' has no release yet.");
        if (!release.WentWrong)
        {
            throw new InvalidRequestException(
                $"Nothing to acknowledge: the latest release of '{serviceName}' (r{release.Revision}, {release.DeploymentId}) {release.State switch { ReleaseState.InProgress => "is in progress", ReleaseState.Stopped => "was stopped", _ => "succeeded" }}.");
        }

        if (release.Acknowledged is { } earlier)
        {
            throw new InvalidRequestException(
                $"r{release.Revision} of '{serviceName}' was acknowledged already by {earlier.By} at {earlier.At:u}" + (earlier.Note is null ? "." : $": {earlier.Note}."));
        }

        var acknowledgement = new Acknowledgement(requestedBy, time.GetUtcNow(), string.IsNullOrWhiteSpace(note) ? null : note.Trim());
        await store.AppendEventAsync(acknowledgement.ToEvent(release.DeploymentId), cancellationToken);
        return release with { Acknowledged = acknowledgement };
    }

    private async Task<ServiceRecord> RequireServiceAsync(string serviceName, CancellationToken cancellationToken) =>
        await store.GetServiceAsync(serviceName, cancellationToken)
        ?? throw new InvalidRequestException($"Unknown service '{serviceName}'. Known services: {await KnownServicesAsync(cancellationToken)}.");

    private async Task<string> KnownServicesAsync(CancellationToken cancellationToken)
    {
        var services = await store.ListServicesAsync(cancellationToken);
        return services.Count == 0 ? "none yet (deploy one with `backstay deploy`)" : string.Join(", ", services.Select(s => s.Name));
    }
}
