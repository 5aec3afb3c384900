"""Expected values for StatTestsAgainstEvidentlyTests.

Evidently 0.4.40 itself cannot be installed here (no PyPI), so this script calls NumPy/SciPy/pandas the way
src/evidently/calculations/stattests/*.py at v0.4.40 does (same functions, same arguments, same binning and zero
filling), on seeded data, and writes data + scores to cases.json. Debian bookworm: python3-scipy 1.10.1,
python3-pandas 1.5.3. Regenerate: /usr/bin/python3 reference.py > cases.json
"""
import json
from collections import defaultdict
from math import sqrt

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance
from scipy.stats import chisquare, ks_2samp, norm


def unique_keys(ref, cur):
    return list(set(ref.dropna().unique()) | set(cur.dropna().unique()))


def binned(ref, cur, numerical, n, fill):
    if numerical and ref.nunique() > 20:
        bins = np.histogram_bin_edges(pd.concat([ref, cur], axis=0).values, bins="sturges")
        rp = np.histogram(ref, bins)[0] / len(ref)
        cp = np.histogram(cur, bins)[0] / len(cur)
    else:
        keys = unique_keys(ref, cur)
        rd = {**dict.fromkeys(keys, 0), **dict(ref.value_counts())}
        cd = {**dict.fromkeys(keys, 0), **dict(cur.value_counts())}
        rp = np.array([rd[k] / len(ref) for k in keys])
        cp = np.array([cd[k] / len(cur) for k in keys])
    if fill:
        for a in (rp, cp):
            m = min(a[a != 0])
            np.place(a, a == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return rp, cp


def ks(ref, cur, numerical):
    return ks_2samp(ref, cur)[1]


def chi(ref, cur, numerical):
    keys = unique_keys(ref, cur)
    rd = {**dict.fromkeys(keys, 0), **dict(ref.value_counts())}
    cd = {**dict.fromkeys(keys, 0), **dict(cur.value_counts())}
    k = cur.shape[0] / ref.shape[0]
    return chisquare([cd[x] for x in keys], [rd[x] * k for x in keys])[1]


def z(ref, cur, numerical):
    if ref.nunique() == 1 and cur.nunique() == 1 and ref.unique()[0] == cur.unique()[0]:
        return 1
    key = sorted(unique_keys(ref, cur))[0]
    a = ref.apply(lambda x: 0 if x == key else 1)
    b = cur.apply(lambda x: 0 if x == key else 1)
    n1, n2 = len(a), len(b)
    p1, p2 = float(sum(a)) / n1, float(sum(b)) / n2
    p = float(p1 * n1 + p2 * n2) / (n1 + n2)
    zs = (p1 - p2) / np.sqrt(p * (1 - p) * (1.0 / n1 + 1.0 / n2))
    return 2 * (1 - norm.cdf(np.abs(zs)))


def wasserstein(ref, cur, numerical):
    return stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)


def js(ref, cur, numerical):
    rp, cp = binned(ref, cur, numerical, 30, False)
    return distance.jensenshannon(rp, cp, None)


def psi(ref, cur, numerical):
    rp, cp = binned(ref, cur, numerical, 30, True)
    return np.sum((rp - cp) * np.log(rp / cp))


def kl(ref, cur, numerical):
    rp, cp = binned(ref, cur, numerical, 30, True)
    return stats.entropy(rp, cp)


def hellinger(ref, cur, numerical):
    keys = list(set(ref.unique()) | set(cur.unique()))
    if not numerical:
        dd = defaultdict(int)
        r = (ref.value_counts() / len(ref)).to_dict(into=dd)
        c = (cur.value_counts() / len(cur)).to_dict(into=dd)
        h = sum(sqrt(r[k] * c[k]) for k in keys)
    else:
        bins = np.histogram_bin_edges(keys, bins="sturges")
        h1 = np.histogram(ref.to_numpy(), bins=bins, density=True)[0]
        h2 = np.histogram(cur.to_numpy(), bins=bins, density=True)[0]
        w = (max(bins) - min(bins)) / (len(bins) - 1)
        h = sum(sqrt(h1[i] * h2[i]) * w for i in range(len(h1)))
    return sqrt(1 - np.clip(h, 0, 1))


METHODS = {"ks": ks, "chisquare": chi, "z": z, "wasserstein": wasserstein, "jensenshannon": js, "psi": psi,
           "kl_div": kl, "hellinger": hellinger}
NUMERICAL = ["ks", "wasserstein", "jensenshannon", "psi", "kl_div", "hellinger"]
CATEGORICAL = ["chisquare", "z", "jensenshannon", "psi", "kl_div", "hellinger"]


def default_method(ref, cur, numerical):
    n = pd.concat([ref, cur]).nunique()
    if ref.shape[0] <= 1000:
        if numerical:
            return ("chisquare" if n > 2 else "z") if n <= 5 else "ks"
        return "chisquare" if n > 2 else "z"
    if numerical:
        return "jensenshannon" if n <= 5 else "wasserstein"
    return "jensenshannon"


rng = np.random.default_rng(17)
cases = []


def add(name, ref, cur, numerical, methods):
    ref, cur = pd.Series(ref), pd.Series(cur)
    case = {"name": name, "numerical": numerical,
            "reference": ref.tolist(), "current": cur.tolist(), "default_method": default_method(ref, cur, numerical),
            "scores": {m: float(METHODS[m](ref.copy(), cur.copy(), numerical)) for m in methods}}
    cases.append(case)


# Numerical, small reference (exact K-S, unequal and equal sizes), floats.
add("normal_small_unequal", rng.normal(0, 1, 200).round(3), rng.normal(0.3, 1.2, 300).round(3), True, NUMERICAL)
add("normal_small_equal", rng.normal(0, 1, 250).round(2), rng.normal(0.1, 1, 250).round(2), True, NUMERICAL)
add("same_small", rng.normal(5, 2, 800).round(1), rng.normal(5, 2, 700).round(1), True, NUMERICAL)
# Integers, many distinct values, large reference (Sturges binning with integer dtype).
add("delay_like_ints", rng.poisson(12, 5000) - 5, rng.poisson(15, 4000) - 5, True, NUMERICAL)
add("distance_like_ints", rng.integers(30, 3000, 6000), (rng.integers(30, 3000, 5000) * 1.1).astype(np.int64), True, NUMERICAL)
# Integers with a narrow range (Sturges width < 1 → 1) but more than 20 distinct values.
add("narrow_ints", rng.integers(0, 25, 3000), rng.integers(2, 27, 3000), True, NUMERICAL)
# Few distinct numerical values (keys branch of get_binned_data; default JS or chi/Z).
add("few_values_large", rng.integers(0, 4, 3000), rng.integers(0, 5, 2000), True, ["jensenshannon", "psi", "kl_div", "hellinger"])
add("binary_numeric_small", rng.integers(0, 2, 400), (rng.random(500) < 0.6).astype(np.int64), True, ["ks", "wasserstein", "hellinger"])
# Floats with a large reference.
add("lognormal_large", rng.lognormal(0, 1, 4000).round(4), rng.lognormal(0.1, 1, 3000).round(4), True, NUMERICAL)
# Categorical: airports with an unseen category; two categories (Z); many categories small reference.
airports = np.array(["ATL", "ORD", "DFW", "LAX", "DEN", "SFO", "PHX", "LAS", "SEA", "BOS"])
add("airports_large", rng.choice(airports[:9], 3000, p=[.2, .15, .12, .1, .1, .1, .09, .08, .06]),
    rng.choice(airports, 2500, p=[.15, .15, .12, .1, .1, .1, .09, .08, .06, .05]), False, CATEGORICAL[0:1] + CATEGORICAL[2:])
add("airports_small", rng.choice(airports, 600), rng.choice(airports, 400), False, ["chisquare", "jensenshannon", "psi", "kl_div", "hellinger"])
add("two_categories", rng.choice(["on_time", "late"], 700, p=[.8, .2]), rng.choice(["on_time", "late"], 900, p=[.7, .3]), False, CATEGORICAL)
add("one_category_each_same", ["a"] * 50, ["a"] * 60, False, ["z"])

print(json.dumps({"generator": "reference.py (NumPy %s, SciPy %s, pandas %s)" % (np.__version__, __import__("scipy").__version__, pd.__version__),
                  "cases": cases}))
