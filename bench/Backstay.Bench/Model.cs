namespace Backstay.Bench;

/// <summary>How much to measure: --quick is a smoke test for CI, --full gives the recorded results.</summary>
internal sealed record Settings
{
    public required string Mode { get; init; }
    public int Rate { get; init; } = 300;
    public required string[] Windows { get; init; }
    public required int BadRunsPerWindow { get; init; }

    /// <summary>Lower load rates at which the canary's time to safety is measured again (default window): it depends on the canary's traffic.</summary>
    public int[] ExtraRates { get; init; } = [];
    public required int GoodRunsPerStrategy { get; init; }
    public required int FalseRollbackRuns { get; init; }
    public required double[] ThresholdRates { get; init; }
    public required int ThresholdRuns { get; init; }
    public required int FootprintServices { get; init; }
    public required int FootprintInProgress { get; init; }
    public required int FootprintSampleSeconds { get; init; }
    public required int VersionRuns { get; init; }
    public required int StatusRuns { get; init; }

    public static Settings Quick => new()
    {
        Mode = "quick",
        Windows = ["10s"],
        BadRunsPerWindow = 1,
        GoodRunsPerStrategy = 1,
        FalseRollbackRuns = 0,
        ThresholdRates = [0.10],
        ThresholdRuns = 1,
        FootprintServices = 2,
        FootprintInProgress = 2,
        FootprintSampleSeconds = 3,
        VersionRuns = 10,
        StatusRuns = 5,
    };

    public static Settings Full => new()
    {
        Mode = "full",
        Windows = ["5s", "10s", "30s"],
        BadRunsPerWindow = 5,
        ExtraRates = [100],
        GoodRunsPerStrategy = 5,
        FalseRollbackRuns = 20,
        ThresholdRates = [0.10, 0.07, 0.05, 0.03, 0.02],
        ThresholdRuns = 3,
        FootprintServices = 30,
        FootprintInProgress = 10,
        FootprintSampleSeconds = 20,
        VersionRuns = 30,
        StatusRuns = 15,
    };
}

/// <summary>A deployment the runner made, with the time span the load process's log is read over.</summary>
internal sealed record Run(string Kind, string Strategy, string Window, double ErrorRate, DeployReport Report, DateTimeOffset From, DateTimeOffset To, int Rate);

/// <summary>One run seen from the load process: what it sent and received in the run's span.</summary>
internal sealed record LoadView(
    long Requests,
    long Failed,
    long BadServed,
    long BadFailed,
    long LostBeyondBad,
    DateTimeOffset? FirstBad5xx,
    DateTimeOffset? LastBadResponse,
    DateTimeOffset? LastBadSent,
    long BadSentAfterSafe,
    double? MaxBadSentAfterSafeMs)
{
    public double? TimeToSafetyMs => FirstBad5xx is { } f && LastBadResponse is { } l ? (l - f).TotalMilliseconds : null;

    public double? ObservedErrorRate => BadServed > 0 ? (double)BadFailed / BadServed : null;

    /// <summary>Reads the samples of one run; "bad" is the deployed revision (for a good run, simply the new revision).</summary>
    public static LoadView Of(IReadOnlyList<Sample> all, Run run, DateTimeOffset? safeAt)
    {
        var from = Sample.Us(run.From);
        var to = Sample.Us(run.To);
        var bad = run.Report.Revision;
        long requests = 0, failed = 0, badServed = 0, badFailed = 0, lostBeyond = 0, badAfterSafe = 0;
        long? first5xx = null, lastBad = null, lastBadSent = null;
        double? maxLate = null;
        var safeUs = safeAt is { } s ? Sample.Us(s) : (long?)null;
        foreach (var x in all)
        {
            if (x.SentUs < from || x.RecvUs > to)
            {
                continue;
            }

            requests++;
            if (x.Failed)
            {
                failed++;
            }

            if (x.Revision == bad)
            {
                badServed++;
                if (x.Failed)
                {
                    badFailed++;
                    first5xx = first5xx is { } f ? Math.Min(f, x.RecvUs) : x.RecvUs;
                }

                lastBad = lastBad is { } l ? Math.Max(l, x.RecvUs) : x.RecvUs;
                lastBadSent = lastBadSent is { } ls ? Math.Max(ls, x.SentUs) : x.SentUs;
                if (safeUs is { } su && x.SentUs > su)
                {
                    badAfterSafe++;
                    var late = (x.SentUs - su) / 1000.0;
                    maxLate = maxLate is { } m ? Math.Max(m, late) : late;
                }
            }
            else if (x.Failed)
            {
                lostBeyond++;
            }
        }

        return new LoadView(requests, failed, badServed, badFailed, lostBeyond,
            first5xx is { } a ? Sample.At(a) : null, lastBad is { } b ? Sample.At(b) : null, lastBadSent is { } c ? Sample.At(c) : null,
            badAfterSafe, maxLate);
    }
}

/// <summary>Backstay's own record of a rolled-back run.</summary>
internal sealed record SafetyView(long? TimeToSafetyMs, DateTimeOffset? FirstErrorAt, DateTimeOffset? FailedAt, DateTimeOffset? RollbackStartedAt, DateTimeOffset? SafeAt)
{
    public double? DetectMs => FailedAt is { } f && FirstErrorAt is { } e ? (f - e).TotalMilliseconds : null;

    public double? SwitchMs => SafeAt is { } s && FailedAt is { } f ? (s - f).TotalMilliseconds : null;

    /// <summary>
    /// The report gives timeToSafetyMs (SafeAt − firstErrorAt) but neither timestamp. SafeAt is taken as soon as HAProxy
    /// holds the rollback's weights; the first event written after that is the rollback's TrafficShifted, so
    /// SafeAt ≈ that event and firstErrorAt ≈ that event − timeToSafetyMs (to a store write, a few ms).
    /// </summary>
    public static SafetyView Of(DeployReport r)
    {
        var failed = r.First("Failed", r.Id);
        var rollbackStarted = r.First("RollbackStarted");
        var shiftedBack = rollbackStarted is null ? null
            : r.Events.FirstOrDefault(e => e.DeploymentId == rollbackStarted.DeploymentId && e.Type == "TrafficShifted");
        var safe = shiftedBack ?? r.First("Safe");
        DateTimeOffset? firstError = safe is not null && r.TimeToSafetyMs is { } t ? safe.At.AddMilliseconds(-t) : null;
        return new SafetyView(r.TimeToSafetyMs, firstError, failed?.At, rollbackStarted?.At, safe?.At);
    }
}

/// <summary>serve's footprint at one moment.</summary>
internal sealed record Footprint(string When, int Services, int InProgress, long? ServeRssKb, long? ServePeakRssKb, int? ServeThreads,
    double? ServeCpuPercent, double SampleSeconds, long? HaproxyRssKb, int Instances, long InstancesRssKb, long? StoreBytes);

/// <summary>One command timed by hyperfine (or by the runner when hyperfine is missing).</summary>
internal sealed record Timing(string Name, string Command, IReadOnlyList<double> Ms, string Tool, string? Note = null);
