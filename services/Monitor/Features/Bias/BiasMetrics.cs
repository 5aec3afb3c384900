namespace Mlops.Monitor.Features.Bias;

/// <summary>
/// Counts of one cell: rows of facet d (the sensitive group) or a (everyone else), with a positive or negative observed
/// label, a positive or negative predicted label (when there are predictions), within a group (for CDDL; "" without one).
/// </summary>
public readonly record struct BiasCell(bool FacetD, bool Label, bool? Predicted, string Group, long Count);

/// <summary>
/// SageMaker Clarify's bias metrics (definitions of its documentation and smclarify), for a binary label (positive label
/// values or a threshold) and a facet d against a = all other rows. Pre-training over the observed labels: CI, DPL, KL,
/// JS, LP (p = 2), TVD, KS, CDDL; post-training over predicted labels as well: DPPL, DI, DCAcc, DCR, RD, DAR, DRR, AD, TE.
/// A metric whose denominator is zero is NaN (KL infinite when d lacks a label value a has).
/// </summary>
public static class BiasMetrics
{
    public static Dictionary<string, double> PreTraining(IReadOnlyList<BiasCell> cells)
    {
        double na = Sum(cells, c => !c.FacetD), nd = Sum(cells, c => c.FacetD);
        double naPos = Sum(cells, c => !c.FacetD && c.Label), ndPos = Sum(cells, c => c.FacetD && c.Label);
        double qa = Div(naPos, na), qd = Div(ndPos, nd);
        // Label distributions P_a(y), P_d(y) over y ∈ {0, 1}.
        double[] pa = [1 - qa, qa], pd = [1 - qd, qd];
        double kl = 0, js = 0, lp = 0, tvd = 0, ks = 0;
        for (var i = 0; i < 2; i++)
        {
            kl += RelEntr(pa[i], pd[i]);
            var m = (pa[i] + pd[i]) / 2;
            js += 0.5 * (RelEntr(pa[i], m) + RelEntr(pd[i], m));
            var diff = pa[i] - pd[i];
            lp += diff * diff;
            tvd += 0.5 * Math.Abs(diff);
            ks = Math.Max(ks, Math.Abs(diff));
        }
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["CI"] = Div(na - nd, na + nd),
            ["DPL"] = qa - qd,
            ["KL"] = kl,
            ["JS"] = js,
            ["LP"] = Math.Sqrt(lp),
            ["TVD"] = tvd,
            ["KS"] = ks,
            ["CDDL"] = Cdd(cells, c => c.Label),
        };
    }

    /// <summary>
    /// Conditional demographic disparity: per group, DD = n_d(0)/n(0) − n_d(1)/n(1) (d's share of the rejected minus its share
    /// of the accepted), averaged weighted by group size; one group (the whole dataset) without a group variable.
    /// </summary>
    public static double Cdd(IReadOnlyList<BiasCell> cells, Func<BiasCell, bool> positive)
    {
        double total = cells.Sum(c => (double)c.Count), weighted = 0;
        foreach (var g in cells.GroupBy(c => c.Group, StringComparer.Ordinal))
        {
            double n = g.Sum(c => (double)c.Count);
            double rejected = g.Where(c => !positive(c)).Sum(c => (double)c.Count), accepted = g.Where(positive).Sum(c => (double)c.Count);
            double dRejected = g.Where(c => c.FacetD && !positive(c)).Sum(c => (double)c.Count), dAccepted = g.Where(c => c.FacetD && positive(c)).Sum(c => (double)c.Count);
            // A group with no rejections (or no acceptances) contributes d's share of what it has: 0/0 terms count as 0.
            var dd = (rejected == 0 ? 0 : dRejected / rejected) - (accepted == 0 ? 0 : dAccepted / accepted);
            weighted += n * dd;
        }
        return Div(weighted, total);
    }

    public static Dictionary<string, double> PostTraining(IReadOnlyList<BiasCell> cells)
    {
        var a = Confusion(cells.Where(c => !c.FacetD));
        var d = Confusion(cells.Where(c => c.FacetD));
        double qa = Div(a.Tp + a.Fp, a.N), qd = Div(d.Tp + d.Fp, d.N);
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["DPPL"] = qa - qd,
            ["DI"] = Div(qd, qa),
            // c = observed positives / predicted positives; r = observed negatives / predicted negatives.
            ["DCAcc"] = Div(a.Tp + a.Fn, a.Tp + a.Fp) - Div(d.Tp + d.Fn, d.Tp + d.Fp),
            ["DCR"] = Div(d.Tn + d.Fp, d.Tn + d.Fn) - Div(a.Tn + a.Fp, a.Tn + a.Fn),
            ["RD"] = Div(a.Tp, a.Tp + a.Fn) - Div(d.Tp, d.Tp + d.Fn),
            ["DAR"] = Div(a.Tp, a.Tp + a.Fp) - Div(d.Tp, d.Tp + d.Fp),
            ["DRR"] = Div(d.Tn, d.Tn + d.Fn) - Div(a.Tn, a.Tn + a.Fn),
            ["AD"] = Div(a.Tp + a.Tn, a.N) - Div(d.Tp + d.Tn, d.N),
            ["TE"] = Div(d.Fn, d.Fp) - Div(a.Fn, a.Fp),
        };
    }

    private readonly record struct Counts(double Tp, double Fp, double Tn, double Fn)
    {
        public double N => Tp + Fp + Tn + Fn;
    }

    private static Counts Confusion(IEnumerable<BiasCell> cells)
    {
        double tp = 0, fp = 0, tn = 0, fn = 0;
        foreach (var c in cells)
        {
            if (c.Predicted is not { } p) continue;
            if (p) { if (c.Label) tp += c.Count; else fp += c.Count; }
            else if (c.Label) fn += c.Count; else tn += c.Count;
        }
        return new Counts(tp, fp, tn, fn);
    }

    private static double Sum(IReadOnlyList<BiasCell> cells, Func<BiasCell, bool> where) => cells.Where(where).Sum(c => (double)c.Count);

    private static double Div(double a, double b) => b == 0 ? double.NaN : a / b;

    private static double RelEntr(double x, double y) =>
        double.IsNaN(x) || double.IsNaN(y) ? double.NaN : x == 0 ? 0 : y == 0 ? double.PositiveInfinity : x * Math.Log(x / y);
}
