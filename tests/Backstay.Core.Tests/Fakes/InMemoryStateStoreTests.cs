using Backstay.Core.Ports;
using Backstay.Testing;

namespace Backstay.Core.Tests.Fakes;

/// <summary>The compliance suite of the real stores, run on the in-memory store the engine tests trust.</summary>
public sealed class InMemoryStateStoreTests : StateStoreComplianceTests
{
    private InMemoryStateStore? _first;

    protected override async Task<IStateStore> CreateStoreAsync()
    {
        // Every store of a test shares the first one's data, as the real stores of a test share one database.
        var store = _first?.OpenAnother() ?? (_first = new InMemoryStateStore(Time));
        await store.InitializeAsync(Ct);
        return store;
    }
}
