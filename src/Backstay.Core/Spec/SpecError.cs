namespace Backstay.Core.Spec;

/// <summary>One problem in a spec file: where it is, which key, what is wrong and what would be right.</summary>
public sealed record SpecError(string File, int Line, int Column, string Key, string Message)
{
    public override string ToString() => Line > 0
        ? $"{File}:{Line}:{Column}: {Key}: {Message}"
        : $"{File}: {Key}: {Message}";
}

/// <summary>Thrown when a spec cannot be used; carries every problem found, and shows the first <see cref="MaxShown"/>.</summary>
public sealed class SpecException(IReadOnlyList<SpecError> errors)
    : Exception(Describe(errors))
{
    /// <summary>A huge broken file can have millions of problems; the first ones say what to fix.</summary>
    public const int MaxShown = 50;

    public IReadOnlyList<SpecError> Errors { get; } = errors;

    /// <summary>The first <see cref="MaxShown"/> problems, one a line, and how many more there are.</summary>
    public static string Describe(IReadOnlyList<SpecError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var shown = string.Join(Environment.NewLine, errors.Take(MaxShown));
        return errors.Count > MaxShown ? shown + Environment.NewLine + MoreProblems(errors.Count) : shown;
    }

    /// <summary>The line that ends a cut list.</summary>
    public static string MoreProblems(int total) =>
        $"... and {total - MaxShown} more problems ({total} in all; the first {MaxShown} are shown, fix those and check again)";
}
