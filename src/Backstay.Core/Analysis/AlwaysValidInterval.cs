namespace Backstay.Core.Analysis;

/// <summary>
/// The always-valid confidence interval of a normally distributed estimate, from the mixture sequential probability ratio
/// test (mSPRT) of Johari, Pekelis and Walsh ("Always valid inference: continuous monitoring of A/B tests", 2015): it may be
/// looked at after every request without the chance of a false verdict growing with the looks. Used by the comparisons with
/// the stable revision (error rate and latency); docs/analysis.md gives the method.
/// </summary>
internal static class AlwaysValidInterval
{
    /// <summary>
    /// Half the width of the interval {θ : Λ(θ) &lt; 1/α}, where Λ is the likelihood ratio of the normal estimate mixed over
    /// θ + N(0, τ²) and averaged over <paramref name="spreads"/>: Λ_τ(d) = sqrt(σ²/(σ²+τ²)) · exp(τ² d² / (2σ²(σ²+τ²))),
    /// d = estimate − θ. An average of mixture ratios is itself one, so the guarantee holds; several τ let both a small and a
    /// gross difference be decided about as soon as one τ fitted to it would. Λ grows with |d|, so the half-width is where it
    /// reaches 1/α, found by bisection.
    /// </summary>
    public static double HalfWidth(double variance, double alpha, IReadOnlyList<double> spreads)
    {
        var threshold = Math.Log(1 / alpha);
        double LogRatio(double d)
        {
            // log of the mean of the ratios, computed stably from their logs.
            var logs = spreads.Select(t =>
            {
                var tau2 = t * t;
                return (0.5 * Math.Log(variance / (variance + tau2))) + (tau2 * d * d / (2 * variance * (variance + tau2)));
            }).ToArray();
            return LogMean(logs);
        }

        double low = 0, high = Math.Sqrt(variance);
        while (LogRatio(high) < threshold)
        {
            high *= 2;
        }

        for (var i = 0; i < 60; i++)
        {
            var middle = (low + high) / 2;
            (LogRatio(middle) < threshold ? ref low : ref high) = middle;
        }

        return high;
    }

    /// <summary>log(mean(exp(logs))), without overflow.</summary>
    public static double LogMean(IReadOnlyList<double> logs)
    {
        var max = logs.Max();
        return max + Math.Log(logs.Sum(l => Math.Exp(l - max)) / logs.Count);
    }
}
