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

    /// <summary>Footprint mode: first deployments submitted together (`deploy --no-wait`), then waited for, before the next batch.</summary>
    public int FootprintBatch { get; init; } = 25;

    /// <summary>Footprint mode: CLI processes at once while submitting a batch or the paused canaries.</summary>
    public int FootprintParallel { get; init; } = 4;

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

    /// <summary>`--footprint`: serve with many services (the tiny Perl server as image) and many deployments in progress; nothing else.</summary>
    public static Settings Footprint => Quick with
    {
        Mode = "footprint", Windows = [], BadRunsPerWindow = 0, GoodRunsPerStrategy = 0, ThresholdRates = [], ThresholdRuns = 0,
        FootprintServices = 1000, FootprintInProgress = 100, FootprintSampleSeconds = 60, VersionRuns = 0,
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
    /// FailedAt is the failure verdict (the Failed event's verdictAt, or its time from Backstays that did not record
    /// one). Since traffic moves back at the verdict, the failed deployment's own Safe event follows that move; before,
    /// the rollback's TrafficShifted did. SafeAt ≈ that event and firstErrorAt ≈ that event − timeToSafetyMs (to a
    /// store write, a few ms).
    /// </summary>
    public static SafetyView Of(DeployReport r)
    {
        var failed = r.First("Failed", r.Id);
        var rollbackStarted = r.First("RollbackStarted");
        var shiftedBack = rollbackStarted is null ? null
            : r.Events.FirstOrDefault(e => e.DeploymentId == rollbackStarted.DeploymentId && e.Type == "TrafficShifted");
        var safe = r.First("Safe", r.Id) ?? shiftedBack ?? r.First("Safe");
        DateTimeOffset? firstError = safe is not null && r.TimeToSafetyMs is { } t ? safe.At.AddMilliseconds(-t) : null;
        return new SafetyView(r.TimeToSafetyMs, firstError, failed?.VerdictAt ?? failed?.At, rollbackStarted?.At, safe?.At);
    }
}

/// <summary>serve's footprint at one moment.</summary>
internal sealed record Footprint(string When, int Services, int InProgress, long? ServeRssKb, long? ServePeakRssKb, int? ServeThreads,
    double? ServeCpuPercent, double SampleSeconds, long? HaproxyRssKb, int Instances, long InstancesRssKb, long? StoreBytes)
{
    /// <summary>serve's RSS every 250 ms of the span (KiB).</summary>
    public IReadOnlyList<double> ServeRssSamplesKb { get; init; } = [];

    /// <summary>serve's CPU (% of one core) over each whole second of the span.</summary>
    public IReadOnlyList<double> ServeCpuPerSecond { get; init; } = [];

    public double? HaproxyCpuPercent { get; init; }

    /// <summary>Proportional set size of the instances (shared pages split among the processes that map them), from smaps_rollup.</summary>
    public long? InstancesPssKb { get; init; }

    public double? InstancesCpuPercent { get; init; }

    /// <summary>The whole machine's busy CPU (% of all cores) over the span, from /proc/stat: other sessions' work included.</summary>
    public double? MachineCpuPercent { get; init; }

    public IReadOnlyDictionary<string, long> StoreFiles { get; init; } = new Dictionary<string, long>();
}

/// <summary>One command timed by hyperfine (or by the runner when hyperfine is missing).</summary>
internal sealed record Timing(string Name, string Command, IReadOnlyList<double> Ms, string Tool, string? Note = null);

/// <summary>One batch of first deployments in the footprint mode, and serve right after it.</summary>
internal sealed record ScaleBatch(int Services, int Submitted, int Succeeded, double SubmitSeconds, double SettleSeconds, long? ServeRssKb,
    long? HaproxyRssKb, double? ObserveMeanMs, double? ObservePassesPerSecond, double MemAvailableGiB, string LoadAverage);

/// <summary>The engine's timing histograms over one measured span (differences of two scrapes of /metrics).</summary>
internal sealed record EngineSpan(string When, double Seconds, IReadOnlyDictionary<string, HistogramData> Histograms);

/// <summary>A kind of warning or error line in serve's log, with how often it came and one example.</summary>
internal sealed record LogFinding(string Level, string Shape, int Count, string First, string Example);

/// <summary>What the footprint mode found besides the samples.</summary>
internal sealed class ScaleRun
{
    public List<ScaleBatch> Batches { get; } = [];
    public int Recorded { get; set; }
    public int Running { get; set; }
    public double CreateSeconds { get; set; }
    public string? CreateStopped { get; set; }
    public string? WorkDirectory { get; set; }
    public string? FirstFailure { get; set; }
    public double? SecondsToFirstFailure { get; set; }
    public List<(string Service, string? Id, string State, string Reason)> CreateFailures { get; } = [];
    public int InProgress { get; set; }
    public double? InProgressSeconds { get; set; }
    public List<double> RollbackCommandSeconds { get; } = [];
    public int RollbackChunk { get; set; }
    public double? RollbackSeconds { get; set; }
    public string? RollbackOutcomes { get; set; }
    public List<EngineSpan> Engine { get; } = [];
    public IReadOnlyList<string> EngineFamilies { get; set; } = [];
    public string? OpenFilesLimit { get; set; }
    public double? ImageRssKb { get; set; }
    public double? ServeStopSeconds { get; set; }
    public int LogLines { get; set; }
    public List<LogFinding> LogFindings { get; } = [];
}
