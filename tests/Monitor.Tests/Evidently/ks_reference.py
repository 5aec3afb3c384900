"""Expected values for KolmogorovSmirnovLargeSampleTests (ks_cases.json).

SciPy's ks_2samp(mode="auto") switches to its asymptotic branch when either sample has more than 10,000 values:
kstwo.sf(d, round(n*m/(n+m))), the exact distribution of the one-sample two-sided statistic evaluated by Simard and
L'Ecuyer's selection of methods. This script records (1) kstwo.sf on a grid of (n, x) that reaches every branch of
that selection, and (2) ks_2samp on large samples given as distinct values with counts (np.repeat), so the JSON stays
small. Debian bookworm: python3-scipy 1.10.1. Regenerate: /usr/bin/python3 ks_reference.py > ks_cases.json
"""
import json

import numpy as np
import scipy
from scipy.stats import kstwo, ks_2samp

grid = []
ns = [1, 2, 3, 5, 10, 30, 50, 100, 139, 140, 141, 500, 2500, 5000, 10000, 50000, 99999, 100000, 100001, 250000, 500000,
      999999, 1000000, 1000001, 1500000, 4000000]
for n in ns:
    xs = set()
    for c in [0.2, 0.4, 0.6, 0.8, 0.87, 1.0, 1.2, 1.35, 1.48, 1.6, 2.0, 2.5, 3.0, 4.0, 6.0, 12.0, 19.0, 25.0]:
        xs.add(c / np.sqrt(n))
    for a in [0.3, 0.45, 0.5, 0.55, 0.7, 0.95]:
        xs.add(a)
    for t in [0.4, 0.5, 0.75, 1.0, 1.5]:
        xs.add(t / n)
    if n > 2:
        xs.add(1 - 1.0 / n)
        xs.add(1 - 0.5 / n)
    for x in sorted(xs):
        if 0 < x < 1:
            grid.append({"n": n, "x": float(x), "sf": float(kstwo.sf(x, n))})

rng = np.random.default_rng(1718)


def sample(values, counts):
    return np.repeat(np.asarray(values, dtype=float), np.asarray(counts, dtype=np.int64))


def counts_of(a):
    v, c = np.unique(a, return_counts=True)
    return v.tolist(), c.tolist()


two_sample = []


def add(name, ref, cur):
    stat, p = ks_2samp(ref, cur)
    rv, rc = counts_of(ref)
    cv, cc = counts_of(cur)
    two_sample.append({"name": name, "reference": {"values": rv, "counts": rc}, "current": {"values": cv, "counts": cc},
                       "statistic": float(stat), "p_value": float(p)})


# Just over the exact limit, equal and unequal sizes, a small shift (p between 0 and 1).
add("poisson_12k_vs_11k", rng.poisson(20, 12000), rng.poisson(20.15, 11000))
add("poisson_20k_vs_20k_same", rng.poisson(40, 20000), rng.poisson(40, 20000))
# One large side, one small side: en below 140 (the small-n branches).
add("rounded_normal_15k_vs_60", rng.normal(0, 1, 15000).round(2), rng.normal(0.2, 1, 60).round(2))
add("rounded_normal_30k_vs_130", rng.normal(0, 1, 30000).round(2), rng.normal(0.5, 1, 130).round(2))
# Large, clearly drifted (the smirnov branch) and barely drifted (Pelz-Good), en > 100,000.
add("delay_like_300k_vs_250k_shift", rng.poisson(15, 300000) - 5, rng.poisson(15.2, 250000) - 5)
add("delay_like_400k_vs_400k_same", rng.poisson(15, 400000) - 5, rng.poisson(15, 400000) - 5)
add("uniform_ints_1m_vs_1m", rng.integers(0, 1000, 1000000), rng.integers(0, 1001, 1000000))
# en above 1,000,000: scipy's smirnov uses Miller's approximation there.
add("uniform_ints_2_5m_vs_2_5m", rng.integers(0, 500, 2500000), rng.integers(0, 501, 2500000))

print(json.dumps({"generator": "ks_reference.py (NumPy %s, SciPy %s)" % (np.__version__, scipy.__version__),
                  "kstwo_sf": grid, "ks_2samp": two_sample}))
