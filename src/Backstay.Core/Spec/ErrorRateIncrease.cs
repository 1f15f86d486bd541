using System.Globalization;

namespace Backstay.Core.Spec;

/// <summary>
/// How much worse than the stable revision the new one may be (<c>analysis.errorRate.maxIncrease</c>): an absolute
/// increase of the error rate in percentage points (<c>+1%</c>: new ≤ stable + 0.01) or a relative one (<c>2x</c>:
/// new ≤ 2 × stable).
/// </summary>
/// <param name="Value">Points as a fraction (0.01 for +1%) when absolute, the factor (2 for 2x) when relative.</param>
/// <param name="Relative">True for a factor of the stable revision's rate.</param>
public sealed record ErrorRateIncrease(double Value, bool Relative)
{
    /// <summary>As the spec writes it: <c>+1%</c>, <c>+0.5%</c>, <c>2x</c>, <c>1.5x</c>.</summary>
    public override string ToString() => Relative
        ? Value.ToString("0.###", CultureInfo.InvariantCulture) + "x"
        : "+" + (Value * 100).ToString("0.###", CultureInfo.InvariantCulture) + "%";

    /// <summary>Reads <c>+N%</c> (N above 0, at most 100) or <c>Nx</c> (N at least 1); null when the text is neither.</summary>
    public static ErrorRateIncrease? TryParse(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.StartsWith('+') && trimmed.EndsWith('%')
            && double.TryParse(trimmed[1..^1].Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var points)
            && points > 0 && points <= 100)
        {
            return new ErrorRateIncrease(points / 100, Relative: false);
        }

        if ((trimmed.EndsWith('x') || trimmed.EndsWith('×'))
            && double.TryParse(trimmed[..^1].Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var factor)
            && factor >= 1 && factor <= 1000)
        {
            return new ErrorRateIncrease(factor, Relative: true);
        }

        return null;
    }
}
