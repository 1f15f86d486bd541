using YamlDotNet.RepresentationModel;

namespace Backstay.Core.Spec;

/// <summary>Reading of the hooks section.</summary>
internal sealed partial class SpecReader
{
    private const string HookKinds =
        "`exec: { command: [./smoke.sh] }`, `http: { url: http://127.0.0.1:9000/verify }` or `pause: { timeout: 1h }`";

    private Dictionary<string, IReadOnlyList<HookSpec>> ReadHooks(SpecMap root)
    {
        var hooks = new Dictionary<string, IReadOnlyList<HookSpec>>(StringComparer.Ordinal);
        if (root.Map("hooks", SpecKeys.HookStages, "`{ AfterInstall: [ { exec: { command: [./smoke.sh] } } ] }`", noun: "lifecycle stage") is not { } map)
        {
            return hooks;
        }

        foreach (var (keyNode, node) in map.Entries)
        {
            var stage = keyNode.Value!;
            var path = map.PathOf(stage);
            if (IsNull(node))
            {
                hooks[stage] = [];
                continue;
            }

            if (node is not YamlSequenceNode sequence)
            {
                Report(node, path, $"must be a list of hooks, each one of {HookKinds}, got {Describe(node)}; write `[ {{ ... }} ]` even for one hook");
                continue;
            }

            var list = new List<HookSpec>(sequence.Children.Count);
            for (var i = 0; i < sequence.Children.Count; i++)
            {
                if (ReadHook(sequence.Children[i], $"{path}[{i}]") is { } hook)
                {
                    list.Add(hook);
                }
            }

            hooks[stage] = list;
        }

        return hooks;
    }

    private HookSpec? ReadHook(YamlNode node, string path)
    {
        if (node is not YamlMappingNode)
        {
            Report(node, path, $"must be a hook: {HookKinds}, got {Describe(node)}");
            return null;
        }

        var map = new SpecMap(this, node, path, SpecKeys.Hook);
        var kind = ExactlyOne(map, SpecKeys.Hook, HookKinds, "a hook is one action; split it into separate hooks, one key each");
        var exec = map.Has("exec") ? ReadExecHook(map) : null;
        var http = map.Has("http") ? ReadHttpHook(map) : null;
        var pause = map.Has("pause") ? ReadPauseHook(map) : null;
        return kind switch
        {
            "exec" when exec is not null => new HookSpec { Exec = exec },
            "http" when http is not null => new HookSpec { Http = http },
            "pause" when pause is not null => new HookSpec { Pause = pause },
            _ => null,
        };
    }

    private ExecHookSpec? ReadExecHook(SpecMap hook)
    {
        const string Example = "`[./smoke.sh, --fast]`";
        if (hook.Map("exec", SpecKeys.ExecHook, "`{ command: [./smoke.sh, --fast], timeout: 2m }`") is not { } map)
        {
            return null;
        }

        var path = map.PathOf("command");
        List<string>? command = null;
        switch (map.Get("command"))
        {
            case null:
                Report(map.Origin, path, $"is required: the program to run and its arguments, e.g. `command: {Example.Trim('`')}`");
                break;
            case YamlScalarNode scalar when !IsNull(scalar):
                Report(scalar, path, $"must be a list of the program and its arguments such as {Example}, got {Describe(scalar)}; write each argument as its own item");
                break;
            case var node:
                command = ReadStringList(node, path, Example);
                if (command is { Count: 0 })
                {
                    Report(node, path, $"must name at least the program to run, e.g. {Example}");
                }

                break;
        }

        var defaults = new ExecHookSpec { Command = [] };
        return new ExecHookSpec
        {
            Command = command ?? [],
            Timeout = map.Duration("timeout", defaults.Timeout),
        };
    }

    private HttpHookSpec? ReadHttpHook(SpecMap hook)
    {
        const string UrlExample = "http://127.0.0.1:9000/verify";
        if (hook.Map("http", SpecKeys.HttpHook, $"`{{ url: {UrlExample}, timeout: 30s }}`") is not { } map)
        {
            return null;
        }

        var url = ReadHttpUrl(map, "url", UrlExample);
        var secretEnv = ReadSecretEnv(map);

        var defaults = new HttpHookSpec { Url = "" };
        return new HttpHookSpec
        {
            Url = url,
            Timeout = map.Duration("timeout", defaults.Timeout),
            SecretEnv = secretEnv,
            Retries = map.Int("retries", defaults.Retries, 0, 10),
        };
    }

    private List<NotificationSpec> ReadNotifications(SpecMap root)
    {
        const string Example = "`[ { url: https://hooks.slack.com/services/..., format: slack } ]`";
        var result = new List<NotificationSpec>();
        switch (root.Get("notifications"))
        {
            case null:
                return result;
            case YamlSequenceNode list:
                for (var i = 0; i < list.Children.Count; i++)
                {
                    var path = $"notifications[{i}]";
                    if (list.Children[i] is not YamlMappingNode)
                    {
                        Report(list.Children[i], path, $"must be a webhook such as {Example.Trim('`', '[', ']', ' ')}, got {Describe(list.Children[i])}");
                        continue;
                    }

                    var map = new SpecMap(this, list.Children[i], path, SpecKeys.Notification);
                    var url = ReadHttpUrl(map, "url", "https://hooks.slack.com/services/T000/B000/XXXX");
                    var defaults = new NotificationSpec { Url = "" };
                    var events = map.Get("events") is { } eventsNode ? ReadStringList(eventsNode, map.PathOf("events"), "`[rolledBack, failed]`") ?? [] : defaults.Events.ToList();
                    foreach (var name in events.Where(e => !SpecKeys.NotificationEvents.Contains(e)))
                    {
                        Report(map.Get("events")!, map.PathOf("events"), $"'{name}' is not an event; choose among {SpecKeys.Join(SpecKeys.NotificationEvents)}");
                    }

                    result.Add(new NotificationSpec
                    {
                        Url = url,
                        Format = map.Get("format") is { } format ? ReadChoice(format, map.PathOf("format"), SpecKeys.NotificationFormats) ?? defaults.Format : defaults.Format,
                        SecretEnv = ReadSecretEnv(map),
                        Events = events,
                    });
                }

                return result;
            case var other when IsNull(other):
                return result;
            case var other:
                Report(other, "notifications", $"must be a list of webhooks such as {Example}, got {Describe(other)}");
                return result;
        }
    }

    private string ReadHttpUrl(SpecMap map, string key, string example)
    {
        var url = map.RequiredString(key, example);
        if (url.Length > 0
            && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
        {
            Report(map.Get(key)!, map.PathOf(key), $"must be an absolute http:// or https:// URL such as {example}, got '{url}'");
        }

        return url;
    }

    private string? ReadSecretEnv(SpecMap map)
    {
        var secretEnv = map.OptionalString("secretEnv");
        if (secretEnv is not null && !SpecValues.IsEnvironmentName(secretEnv))
        {
            Report(map.Get("secretEnv")!, map.PathOf("secretEnv"),
                $"must be the name of an environment variable (letters, digits and '_', not starting with a digit) such as HOOK_SECRET, got '{secretEnv}'");
        }

        return secretEnv;
    }

    private PauseHookSpec? ReadPauseHook(SpecMap hook)
    {
        if (hook.Map("pause", SpecKeys.PauseHook, "`{ timeout: 1h, onTimeout: rollback }`") is not { } map)
        {
            return null;
        }

        var defaults = new PauseHookSpec();
        return new PauseHookSpec
        {
            Timeout = map.Duration("timeout", defaults.Timeout),
            OnTimeout = map.Get("onTimeout") is { } onTimeout
                ? ReadChoice(onTimeout, map.PathOf("onTimeout"), SpecKeys.OnTimeoutActions) ?? defaults.OnTimeout
                : defaults.OnTimeout,
        };
    }
}
