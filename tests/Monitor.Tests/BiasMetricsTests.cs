using Mlops.Monitor.Features.Bias;

namespace Mlops.Monitor.Tests;

/// <summary>SageMaker Clarify's bias metrics on a small dataset checked by hand.</summary>
public sealed class BiasMetricsTests
{
    // Facet d: four rows, labels 1 0 0 0, predictions 1 1 0 0. Facet a: six rows, labels 1 1 1 0 0 0, predictions 1 1 0 1 0 0.
    private static readonly BiasCell[] Cells =
    [
        new(true, true, true, "", 1), new(true, false, true, "", 1), new(true, false, false, "", 2),
        new(false, true, true, "", 2), new(false, true, false, "", 1), new(false, false, true, "", 1), new(false, false, false, "", 2),
    ];

    [Fact]
    public void PreTraining_ByHand()
    {
        var m = BiasMetrics.PreTraining(Cells);
        Assert.Equal(0.2, m["CI"], 12);                                   // (6 − 4) / 10
        Assert.Equal(0.25, m["DPL"], 12);                                 // q_a 0.5 − q_d 0.25
        Assert.Equal(0.5 * Math.Log(0.5 / 0.75) + 0.5 * Math.Log(0.5 / 0.25), m["KL"], 12);
        var klA = 0.5 * Math.Log(0.5 / 0.625) + 0.5 * Math.Log(0.5 / 0.375);
        var klD = 0.75 * Math.Log(0.75 / 0.625) + 0.25 * Math.Log(0.25 / 0.375);
        Assert.Equal(0.5 * (klA + klD), m["JS"], 12);
        Assert.Equal(Math.Sqrt(0.125), m["LP"], 12);
        Assert.Equal(0.25, m["TVD"], 12);
        Assert.Equal(0.25, m["KS"], 12);
        Assert.Equal(0.25, m["CDDL"], 12);                                // d: 3 of 6 rejected, 1 of 4 accepted
        Assert.True(m["KL"] > 0 && m["DPL"] > 0);                         // a gets more positive labels: signs say so
    }

    [Fact]
    public void PostTraining_ByHand()
    {
        var m = BiasMetrics.PostTraining(Cells);
        // a: TP 2, FN 1, FP 1, TN 2; d: TP 1, FP 1, TN 2, FN 0.
        Assert.Equal(0, m["DPPL"], 12);                                   // both predicted positive half the time
        Assert.Equal(1, m["DI"], 12);
        Assert.Equal(0.5, m["DCAcc"], 12);                                // c_a 3/3 − c_d 1/2
        Assert.Equal(0.5, m["DCR"], 12);                                  // r_d 3/2 − r_a 3/3
        Assert.Equal(2 / 3.0 - 1, m["RD"], 12);
        Assert.Equal(2 / 3.0 - 0.5, m["DAR"], 12);
        Assert.Equal(1 - 2 / 3.0, m["DRR"], 12);
        Assert.Equal(4 / 6.0 - 3 / 4.0, m["AD"], 12);
        Assert.Equal(0 - 1, m["TE"], 12);                                 // FN_d/FP_d 0 − FN_a/FP_a 1
    }

    [Fact]
    public void Cddl_WeightsGroupsBySize()
    {
        BiasCell[] cells =
        [
            new(true, true, null, "g1", 1), new(true, false, null, "g1", 1), new(false, true, null, "g1", 1),
            new(true, false, null, "g2", 2), new(false, true, null, "g2", 2), new(false, false, null, "g2", 3),
        ];
        // g1 (3 rows): DD = 1/1 − 1/2 = 0.5; g2 (7 rows): DD = 2/5 − 0/2 = 0.4; CDD = (3 · 0.5 + 7 · 0.4) / 10.
        Assert.Equal(0.43, BiasMetrics.PreTraining(cells)["CDDL"], 12);
    }

    [Fact]
    public void NoPositivesInD_KlIsInfinite_DiUndefined()
    {
        BiasCell[] cells = [new(true, false, false, "", 3), new(false, true, true, "", 2), new(false, false, false, "", 2)];
        Assert.True(double.IsPositiveInfinity(BiasMetrics.PreTraining(cells)["KL"]));
        Assert.Equal(0, BiasMetrics.PostTraining(cells)["DI"], 12); // q̂_d 0 / q̂_a 0.5
    }
}
