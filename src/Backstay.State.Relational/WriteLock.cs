namespace Backstay.State.Relational;

/// <summary>The writes that read before they write, so must not interleave with another of the same kind and key.</summary>
public enum WriteLock
{
    /// <summary>A revision's number is the service's highest plus one; keyed by service.</summary>
    RevisionNumbers,

    /// <summary>A deployment is created only while its service has no active one; keyed by service.</summary>
    Deployments,

    /// <summary>Events of a deployment must commit in sequence order, for readers that page "after sequence N"; keyed by deployment.</summary>
    Events,
}
