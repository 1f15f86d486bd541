using Backstay.Core.Model;
using Backstay.Core.Ports;
using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Ports;

public sealed class PlatformRouterTests
{
    private static readonly ServiceSpec Web = new()
    {
        Service = "web",
        Platform = new PlatformSpec { Ecs = new EcsPlatformSpec { Cluster = "prod" } },
        Task = new TaskSpec { Image = "hello:1" },
    };

    [Fact]
    public async Task ListAsync_AfterOnlyACheckOfTheSpec_AttachesTheServiceFirst()
    {
        var ecs = new AttachingPlatform();
        await using var router = new PlatformRouter([ecs], (_, _) => Task.FromResult<ServiceSpec?>(Web));

        // The API checks a spec before it records a deployment; the observation pass then reads the service by name.
        await router.CheckServiceAsync(Web, CancellationToken.None);
        var sets = await router.Compute.ListAsync("web", CancellationToken.None);

        sets.ShouldBeEmpty();
        ecs.Attached.ShouldBe(["web"]);
    }

    [Fact]
    public async Task CheckServiceAsync_PlatformNotRunHere_SaysWhy()
    {
        await using var router = new PlatformRouter([new AttachingPlatform()], (_, _) => Task.FromResult<ServiceSpec?>(null))
        {
            NotRunHint = "a shared store runs ECS services only",
        };

        var refused = await Should.ThrowAsync<PlatformException>(() => router.CheckServiceAsync(
            Web with { Platform = new PlatformSpec { Local = new LocalPlatformSpec() } }, CancellationToken.None));

        refused.Message.ShouldContain("which this controller does not run (it runs ecs): a shared store runs ECS services only");
    }

    /// <summary>An ECS-like platform: it knows a service only once it was attached (or ensured) in this process.</summary>
    private sealed class AttachingPlatform : IPlatform, ICompute
    {
        public List<string> Attached { get; } = [];

        public string Name => "ecs";

        public ICompute Compute => this;

        public ITraffic Traffic => throw new NotSupportedException();

        public ISignals Signals => throw new NotSupportedException();

        public Task EnsureServiceAsync(ServiceSpec spec, CancellationToken cancellationToken) => AttachAsync(spec, cancellationToken);

        public Task AttachAsync(ServiceSpec spec, CancellationToken cancellationToken)
        {
            Attached.Add(spec.Service);
            return Task.CompletedTask;
        }

        public Task ScaleAsync(ServiceSpec spec, Revision revision, int count, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<IReadOnlyList<InstanceSet>> ListAsync(string service, CancellationToken cancellationToken) =>
            Attached.Contains(service) ? Task.FromResult<IReadOnlyList<InstanceSet>>([])
                : throw new PlatformException($"The ECS platform has not been told about service '{service}' in this process");

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
