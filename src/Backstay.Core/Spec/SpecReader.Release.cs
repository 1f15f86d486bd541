using Backstay.Core.Releases;
using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>The release file (release.yaml): read with the spec's reader, so its problems carry file, line and key the same way.</summary>
internal sealed partial class SpecReader
{

    /// <summary>One `services` entry as written, with the nodes later checks report at.</summary>
    internal sealed record ReleaseEntry(string SpecPath, YamlNode SpecNode, string? Image, IReadOnlyDictionary<string, string> Env,
        IReadOnlyList<(string Name, YamlNode Node)> DependsOn, string Path);

    /// <summary>The release file as written; null when it could not be read at all.</summary>
    internal sealed record ReleaseDraft(string Name, ReleaseOnFailure OnFailure, IReadOnlyList<ReleaseEntry> Entries, YamlNode ServicesNode);

    public ReleaseDraft? ReadReleaseDraft(string yaml)
    {
        var root = LoadDocument(yaml);
        if (root is null)
        {
            return null;
        }

        if (root is not YamlMappingNode)
        {
            Report(root, DocumentKey, $"must be a mapping with keys such as `release: checkout-2026-12` and `services: [ {{ spec: api/backstay.yaml }} ]`, got {Describe(root)}");
            return null;
        }

        var map = new SpecMap(this, root, "", SpecKeys.ReleaseRoot);
        var name = map.RequiredString("release", "checkout-2026-12");
        if (name.Length > 0 && !SpecValues.IsServiceName(name))
        {
            Report(map.Get("release")!, "release", $"must be 1 to 63 lowercase letters, digits or '-', starting with a letter or digit, got '{name}'");
        }

        var onFailure = map.Get("onFailure") is { } onFailureNode
            ? ReadChoice(onFailureNode, "onFailure", SpecKeys.ReleaseOnFailure) switch
            {
                "rollbackFailed" => ReleaseOnFailure.RollbackFailed,
                "pause" => ReleaseOnFailure.Pause,
                _ => ReleaseOnFailure.RollbackAll,
            }
            : ReleaseOnFailure.RollbackAll;

        var entries = new List<ReleaseEntry>();
        if (map.Get("services") is not { } servicesNode)
        {
            Report(root, "services", "is required; list the services of the release, e.g. `services: [ { spec: api/backstay.yaml }, { spec: worker/backstay.yaml, dependsOn: [api] } ]`");
            return new ReleaseDraft(name, onFailure, entries, root);
        }

        if (servicesNode is not YamlSequenceNode { Children.Count: > 0 } services)
        {
            Report(servicesNode, "services", $"must be a list of at least one service such as `- spec: api/backstay.yaml`, got {Describe(servicesNode)}");
            return new ReleaseDraft(name, onFailure, entries, servicesNode);
        }

        for (var i = 0; i < services.Children.Count; i++)
        {
            var path = $"services[{i}]";
            if (ReadMap(services.Children[i], path, SpecKeys.ReleaseService, "`spec: api/backstay.yaml`") is not { } entry)
            {
                continue;
            }

            var spec = entry.RequiredString("spec", "api/backstay.yaml");
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            if (entry.Has("env"))
            {
                env = ReadEnv(entry) ?? env;
            }

            var dependsOn = new List<(string, YamlNode)>();
            if (entry.Get("dependsOn") is { } dependsNode && ReadStringList(dependsNode, entry.PathOf("dependsOn"), "`dependsOn: [api]`") is { } names)
            {
                var nodes = dependsNode is YamlSequenceNode sequence ? sequence.Children : [];
                for (var j = 0; j < names.Count && j < nodes.Count; j++)
                {
                    dependsOn.Add((names[j], nodes[j]));
                }
            }

            if (spec.Length > 0)
            {
                entries.Add(new ReleaseEntry(spec, entry.Get("spec")!, entry.OptionalString("image"), env, dependsOn, path));
            }
        }

        return new ReleaseDraft(name, onFailure, entries, services);
    }
}
