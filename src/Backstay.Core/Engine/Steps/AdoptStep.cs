using System.Text.Json;
using Backstay.Core.Model;
using Backstay.Core.Ports;

namespace Backstay.Core.Engine.Steps;

/// <summary>`reset --adopt`: what serves production now becomes the stable revision; nothing else is changed to get there.</summary>
internal static class AdoptStep
{
    /// <summary>
    /// Reset by adoption: what serves production traffic now (weight and healthy instances) becomes the stable revision
    /// at the count that runs; leftovers without traffic are scaled to 0. The choice is journaled before anything is
    /// changed, so a process that dies halfway is resumed with the same choice. When nothing serves, or traffic is split,
    /// there is nothing to adopt: it refuses, changing nothing, and points at --recreate.
    /// </summary>
    public static async Task RunAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        const int Step = 0;
        var choice = await JournaledChoiceAsync(context, cancellationToken);
        if (choice is null)
        {
            await context.Record.SaveAsync(context.Deployment with { State = DeploymentState.InProgress }, cancellationToken);
            await context.Record.EventAsync("Started", "reset: adopting what runs on the platform as the new baseline", cancellationToken);
            var (chosen, refusal) = await ChooseAsync(context, cancellationToken);
            if (chosen is null)
            {
                await context.Record.EventAsync("Failed", refusal!, cancellationToken);
                await context.Record.SaveAsync(context.Finish(DeploymentState.Failed, refusal), cancellationToken);
                return;
            }

            choice = chosen;
            await context.Record.JournalAsync(new JournalEntry
            {
                DeploymentId = context.Deployment.Id,
                Step = Step,
                Phase = StepPhase.Started,
                Action = choice.Describe(),
                DetailJson = BackstayJson.Serialize(choice, AdoptionJournal.JsonOptions),
                At = context.Time.GetUtcNow(),
            }, cancellationToken);
            await context.Record.SaveAsync(context.Deployment with { TargetRevision = choice.Revision, TotalSteps = 1, CurrentStep = Step, StepPhase = StepPhase.Started }, cancellationToken);
        }
        else
        {
            EngineLog.Resuming(context.Logger, context.Deployment.Id, context.Service, Step);
            await context.Record.EventAsync("Resumed", $"resumed adopting revision {choice.Revision} after a restart of Backstay", cancellationToken);
            await context.Record.SaveAsync(context.Deployment with { TargetRevision = choice.Revision, TotalSteps = 1, CurrentStep = Step, StepPhase = StepPhase.Started }, cancellationToken);
        }

        await context.Platform.AttachAsync(context.Plan.Spec, cancellationToken);
        foreach (var leftover in await context.Platform.Compute.ListAsync(context.Service, cancellationToken))
        {
            if (leftover.Revision != choice.Revision && leftover.DesiredCount > 0
                && await context.Store.GetRevisionAsync(context.Service, leftover.Revision, cancellationToken) is { } revision)
            {
                await context.Platform.Compute.ScaleAsync(context.Plan.Spec, revision, 0, cancellationToken);
                await context.Record.EventAsync("Scaled", $"revision {leftover.Revision} scaled to 0: it ran without traffic", cancellationToken);
            }
        }

        if (await context.Store.GetServiceAsync(context.Service, cancellationToken) is { } record)
        {
            await context.Store.UpsertServiceAsync(record with { StableRevision = choice.Revision, DesiredCount = choice.Count, UpdatedAt = context.Time.GetUtcNow() }, cancellationToken);
        }

        await context.Record.JournalAsync(new JournalEntry
        {
            DeploymentId = context.Deployment.Id,
            Step = Step,
            Phase = StepPhase.Completed,
            Action = choice.Describe(),
            At = context.Time.GetUtcNow(),
        }, cancellationToken);
        await context.Record.EventAsync("Succeeded", $"adopted revision {choice.Revision} with {choice.Count} instance(s) as the stable revision", cancellationToken);
        await context.Record.SaveAsync(context.Finish(DeploymentState.Succeeded, null) with { TargetRevision = choice.Revision, StepPhase = StepPhase.Completed }, cancellationToken);
    }

    /// <summary>The one revision that serves all production traffic with healthy instances, or why there is none to adopt.</summary>
    private static async Task<(AdoptionJournal? Choice, string? Refusal)> ChooseAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var record = await context.Store.GetServiceAsync(context.Service, cancellationToken);
        var recreate = record?.StableRevision is { } lastGood
            ? $"Run `backstay reset {context.Service} --recreate` to bring back revision {lastGood} (the last good revision) at its count with all traffic"
            : $"Deploy a revision with `backstay deploy`";
        Observation observation;
        try
        {
            await context.Platform.AttachAsync(context.Plan.Spec, cancellationToken);
            observation = await Observations.ReadAsync(context.Platform, context.Service, context.Time, cancellationToken);
        }
        catch (PlatformException ex)
        {
            return (null, $"the platform could not be read ({ex.Message}); adopt changed nothing. {recreate}");
        }

        var serving = observation.ProductionWeights.Where(w => w.Value > 0 && observation.Sets.Any(s => s.Revision == w.Key && s.Healthy > 0)).ToList();
        if (serving.Count == 0)
        {
            var running = string.Join(", ", observation.Sets.Where(s => s.Running > 0).Select(s => $"revision {s.Revision} runs {s.Healthy} healthy instance(s)"));
            return (null, $"nothing serves production traffic (the listener gives {Wording.Split(observation.ProductionWeights)}{(running.Length == 0 ? "" : $"; {running}")}); adopt has no revision to take as the baseline and changed nothing. {recreate}");
        }

        if (serving.Count > 1)
        {
            var split = string.Join(", ", serving.OrderBy(w => w.Key).Select(w => $"revision {w.Key} {w.Value}%"));
            return (null, $"production traffic is split ({split}); adopt cannot choose a stable revision and changed nothing. Use `backstay reset {context.Service} --recreate`, or roll forward with a deployment");
        }

        if (Math.Abs(serving[0].Value - 100) > 2)
        {
            return (null, $"production traffic goes to revision {serving[0].Key} {serving[0].Value}% and the rest to no revision of '{context.Service}'; adopt cannot take that as a baseline and changed nothing. Use `backstay reset {context.Service} --recreate` to send all traffic to the last good revision");
        }

        var set = observation.Sets.First(s => s.Revision == serving[0].Key);
        if (await context.Store.GetRevisionAsync(context.Service, set.Revision, cancellationToken) is null)
        {
            return (null, $"revision {set.Revision} serves production traffic but is not in Backstay's record of '{context.Service}'{(!context.Plan.Spec.Platform.CanImport ? "" : " (`backstay import` reads it back)")}; adopt changed nothing. {recreate}");
        }

        return (new AdoptionJournal(set.Revision, set.Running), null);
    }

    private static async Task<AdoptionJournal?> JournaledChoiceAsync(DeploymentContext context, CancellationToken cancellationToken)
    {
        var journal = await context.Store.ListJournalAsync(context.Deployment.Id, cancellationToken);
        return journal.Where(e => e.DetailJson is not null).Select(e => AdoptionJournal.Parse(e.DetailJson!)).LastOrDefault(c => c is not null);
    }

}

/// <summary>What the journal keeps of a reset by adoption: the revision it takes as stable and its count, chosen before anything changed.</summary>
internal sealed record AdoptionJournal(int Revision, int Count)
{
    internal static JsonSerializerOptions JsonOptions => CoreJson.Web;

    public string Describe() => $"adopt revision {Revision} with {Count} instance(s)";

    public static AdoptionJournal? Parse(string json)
    {
        try
        {
            return BackstayJson.Deserialize<AdoptionJournal>(json, JsonOptions) is { Revision: > 0 } choice ? choice : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
