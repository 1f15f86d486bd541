namespace Backstay.Core.Spec;

/// <summary>One problem in a spec file: where it is, which key, what is wrong and what would be right.</summary>
public sealed record SpecError(string File, int Line, int Column, string Key, string Message)
{
    public override string ToString() => Line > 0
        ? $"{File}:{Line}:{Column}: {Key}: {Message}"
        : $"{File}: {Key}: {Message}";
}

/// <summary>Thrown when a spec cannot be used; carries every problem found.</summary>
public sealed class SpecException(IReadOnlyList<SpecError> errors)
    : Exception(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<SpecError> Errors { get; } = errors;
}
