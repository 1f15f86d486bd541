using Backstay.Core.Spec;

namespace Backstay.Core.Tests.Spec;

public class SpecValuesTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("10s", 10_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1h2m3s4ms", 3_723_004)]
    [InlineData("1.5s", 1_500)]
    [InlineData("0s", 0)]
    public void TryParseDuration_ValidText_ReturnsDuration(string text, double milliseconds)
    {
        SpecValues.TryParseDuration(text, out var value).ShouldBeTrue();
        value.ShouldBe(TimeSpan.FromMilliseconds(milliseconds));
    }

    [Theory]
    [InlineData("")]
    [InlineData("30")]
    [InlineData("1d")]
    [InlineData("ms")]
    [InlineData("-1s")]
    [InlineData("1 s")]
    [InlineData("1S")]
    public void TryParseDuration_InvalidText_ReturnsFalse(string text)
    {
        SpecValues.TryParseDuration(text, out _).ShouldBeFalse();
    }

    [Fact]
    public void TryParseDuration_LongerThanMaximum_ReturnsValueAboveMaximum()
    {
        SpecValues.TryParseDuration("99999999999999h", out var value).ShouldBeTrue();
        value.ShouldBeGreaterThan(SpecValues.MaxDuration);
    }

    [Theory]
    [InlineData("1%", 0.01, true)]
    [InlineData("0.5%", 0.005, true)]
    [InlineData("0.01", 0.01, false)]
    [InlineData(" 2 % ", 0.02, true)]
    public void TryParseFraction_PercentOrFraction_ReturnsFraction(string text, double expected, bool percent)
    {
        SpecValues.TryParseFraction(text, out var fraction, out var hadPercentSign).ShouldBeTrue();
        fraction.ShouldBe(expected, tolerance: 1e-12);
        hadPercentSign.ShouldBe(percent);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("%")]
    [InlineData("-1%")]
    public void TryParseFraction_NotANumber_ReturnsFalse(string text)
    {
        SpecValues.TryParseFraction(text, out _, out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData(TimeSpan.TicksPerMillisecond / 10, "0.1ms")]
    [InlineData(500 * TimeSpan.TicksPerMillisecond, "500ms")]
    [InlineData(90 * TimeSpan.TicksPerSecond, "1m30s")]
    [InlineData(2 * TimeSpan.TicksPerHour, "2h")]
    public void FormatDuration_Value_WritesItTheWayTheSpecDoes(long ticks, string expected)
    {
        SpecValues.FormatDuration(TimeSpan.FromTicks(ticks)).ShouldBe(expected);
    }

    [Theory]
    [InlineData("stratgy", "strategy")]
    [InlineData("Service", "service")]
    [InlineData("setweight", "setWeight")]
    [InlineData("imag", "image")]
    [InlineData("zzzzzz", null)]
    public void ClosestMatch_Typo_SuggestsCandidateWithinTwoEdits(string written, string? expected)
    {
        SpecValues.ClosestMatch(written, ["service", "strategy", "setWeight", "image"]).ShouldBe(expected);
    }

    [Theory]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    [InlineData("same", "same", 0)]
    public void Distance_TwoWords_CountsEdits(string a, string b, int expected)
    {
        SpecValues.Distance(a, b).ShouldBe(expected);
    }

    [Theory]
    [InlineData("Hello World", "hello-world")]
    [InlineData("--x--", "x")]
    [InlineData("___", null)]
    public void SuggestServiceName_InvalidName_OffersAValidOne(string written, string? expected)
    {
        SpecValues.SuggestServiceName(written).ShouldBe(expected);
    }
}
