using Backstay.Core.Analysis;
using Backstay.Core.Model;

namespace Backstay.Core.Engine;

/// <summary>Why a running step stopped early: the runner turns it into a rollback, a stop, or a stop for drift.</summary>
internal sealed class StepAbortedException(string reason, Trigger trigger, DateTimeOffset? firstErrorAt = null,
    string? requestedBy = null, bool stop = false, IReadOnlyList<string>? drift = null, IReadOnlyList<AnalysisCheck>? evidence = null) : Exception(reason)
{
    /// <summary>The numbers of the analysis verdict that failed, for the Failed event.</summary>
    public IReadOnlyList<AnalysisCheck>? Evidence { get; } = evidence;

    public Trigger Trigger { get; } = trigger;

    /// <summary>Who asked for the rollback, when a person did.</summary>
    public string? RequestedBy { get; } = requestedBy;

    /// <summary>Stop where the deployment stands rather than roll back (asked for, or the platform no longer matches the record).</summary>
    public bool Stop { get; } = stop || drift is not null;

    /// <summary>What differs between the platform and the record, when drift stops the deployment: then nothing more is changed.</summary>
    public IReadOnlyList<string>? Drift { get; } = drift;

    /// <summary>When the target served its first failed request, for time-to-safety figures.</summary>
    public DateTimeOffset? FirstErrorAt { get; } = firstErrorAt;
}
