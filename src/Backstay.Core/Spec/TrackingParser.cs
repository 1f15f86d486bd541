using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Backstay.Core.Spec;

/// <summary>
/// Remembers where parsing got to, because some malformed input (an unclosed flow list) makes
/// YamlDotNet throw an exception that carries no position.
/// </summary>
internal sealed class TrackingParser(IParser inner) : IParser
{
    private readonly Stack<ParsingEvent> _openFlowCollections = new();

    public ParsingEvent? Current => inner.Current;

    /// <summary>Where the last event read ended.</summary>
    public Mark LastMark { get; private set; } = Mark.Empty;

    /// <summary>The innermost flow list or mapping ([...] or {...}) that was opened and not yet closed.</summary>
    public ParsingEvent? OpenFlowCollection => _openFlowCollections.Count > 0 ? _openFlowCollections.Peek() : null;

    public bool MoveNext()
    {
        var moved = inner.MoveNext();
        switch (inner.Current)
        {
            case SequenceStart { Style: SequenceStyle.Flow } start:
                _openFlowCollections.Push(start);
                break;
            case MappingStart { Style: MappingStyle.Flow } start:
                _openFlowCollections.Push(start);
                break;
            case SequenceEnd or MappingEnd when _openFlowCollections.Count > 0:
                _openFlowCollections.Pop();
                break;
        }

        if (inner.Current is { } current)
        {
            LastMark = current.End;
        }

        return moved;
    }
}
