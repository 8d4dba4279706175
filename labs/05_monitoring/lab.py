# %% [markdown]
# # Lab 05: Monitoring
#
# Our spam filter learned from 2013–2014 and now serves 2015: new spam campaigns, new videos,
# less spam, and labels that arrive late or never. We build the monitor: mergeable
# **profiles** (whylogs, DataSketches), **drift tests** (Evidently, alibi-detect), **accuracy
# without labels** (NannyML's CBPE), **alerts** that say what drifted, by how much and since
# when, and **closing the loop**: fix the labeling functions that broke, retrain, recover.
# "Failing Loudly" (Rabanser et al., NeurIPS 2019) found two-sample tests on simple
# representations catch most shifts; we check. `mlsys_edu.labkit` holds the given plumbing.

# %% tags=["export"]
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import special, stats
from sklearn.isotonic import IsotonicRegression

from mlsys_edu.data import load_youtube_spam
from mlsys_edu.labkit.monitoring import (Alert, AlertState, DriftTests, SpamFilter, TextEmbedder,
                                         column_kind, comment_features, drift_report,
                                         ecdf_gap, inject_drift, numeric_sample,
                                         plot_accuracy, plot_pvalues, run_monitor,
                                         score_comments, time_windows)
from mlsys_edu.labkit.profiles import (NUMERIC, ColumnProfile, CompactorStack, Registers,
                                       merge_profiles, profile_frame, profile_partitions)
from mlsys_edu.labkit.weak_labels import SPAM_PATTERN_LFS, PatternLF, label_matrix

# %% [markdown]
# ## The data: the past and the present
#
# Dated comments only (video 4's have none). The past splits into `train` (weak labels: the
# pattern LFs, weighted by their accuracy on `reference`), `reference` (labelled by hand: every
# test's baseline) and `holdout`; 2015 is served **in time order**.

# %%
comments = load_youtube_spam().dropna(subset=["date"]).sort_values("date", kind="stable")
past = comments[comments["date"] < "2015-01-01"].sample(frac=1.0, random_state=5)
present = comments[comments["date"] >= "2015-01-01"].reset_index(drop=True)
cut = [int(0.4 * len(past)), int(0.65 * len(past))]
train, reference, holdout = past.iloc[:cut[0]], past.iloc[cut[0]:cut[1]], past.iloc[cut[1]:]
model = SpamFilter().train(train["text"], reference["text"], reference["label"])
p_ref = model.predict_proba(reference["text"])
print(f"train {len(train)}, reference {len(reference)}, holdout {len(holdout)}, 2015: "
      f"{len(present)}; reference accuracy {((p_ref > 0.5) == reference.label).mean():.1%}")
print(f"spam share: 2013-14 {past.label.mean():.0%}, 2015 {present.label.mean():.0%}")

# %% [markdown]
# ## Part 1: profiles that merge
#
# A monitor keeps a **profile** per column, not the rows. Each piece is **mergeable**:
# $\text{profile}(A) \oplus \text{profile}(B) = \text{profile}(A \cup B)$ within its error.
#
# ## Exercise 5.1: the KLL quantile sketch
#
# KLL (Karnin, Lang and Liberty, FOCS 2016): an item at level $h$ stands for $2^h$ values;
# values enter level 0. While the sketch holds more items than its total capacity, compact
# the lowest level at or over its `capacity` (given: $\max(2, \lceil k (2/3)^{H-1-h}
# \rceil)$ of $H$ levels, about $3k$ in all for any stream length $n$): sort it, draw $o \in
# \{0, 1\}$ (`self._rng.integers(2)`), promote `items[o::2]` of its even-length prefix to
# level $h + 1$, keep the odd one out (the largest). That moves a rank by at most $2^h$, up or
# down alike. $\hat R(x) = \sum_h 2^h |\{v \in \text{level}_h : v \le x\}|$ is off by
# about $1.7 n/k$ at worst. Write `update` (a batch; NaN ignored), `_compress`, `rank`
# ($\hat R(x)/n$, vectorised), `quantile(q)` (the smallest item whose cumulative weight reaches
# $qn$) and `merge` (a new sketch: concatenate levels, compress); empty: `ValueError`.

# %% tags=["export"]
class KLLSketch(CompactorStack):  # given: k, seed, n, levels, _rng, capacity(h), retained
    """KLL quantile sketch: ``levels[h]`` holds items of weight ``2**h``; about 3k items."""

    def update(self, values: np.ndarray) -> "KLLSketch":
        # BEGIN SOLUTION 5.1
        x = np.asarray(values, dtype=float).ravel()
        x = x[~np.isnan(x)]
        self.n += len(x)
        self.levels[0] = np.concatenate([self.levels[0], x])
        self._compress()
        return self
        # END SOLUTION

    def _compress(self) -> None:
        # BEGIN SOLUTION 5.1
        while self.retained > sum(self.capacity(h) for h in range(len(self.levels))):
            h = next(h for h, level in enumerate(self.levels) if len(level) >= self.capacity(h))
            if h + 1 == len(self.levels):
                self.levels.append(np.empty(0))
            items = np.sort(self.levels[h])
            even = len(items) - len(items) % 2
            self.levels[h + 1] = np.concatenate(
                [self.levels[h + 1], items[:even][self._rng.integers(2)::2]])
            self.levels[h] = items[even:]
        # END SOLUTION

    def rank(self, x: np.ndarray | float) -> np.ndarray:
        # BEGIN SOLUTION 5.1
        if self.n == 0:
            raise ValueError("the sketch is empty: update it with values first")
        x = np.asarray(x, dtype=float)
        return sum(np.searchsorted(np.sort(level), x, side="right") * 2.0**h
                   for h, level in enumerate(self.levels)) / self.n
        # END SOLUTION

    def quantile(self, q: np.ndarray | float) -> np.ndarray:
        # BEGIN SOLUTION 5.1
        q = np.asarray(q, dtype=float)
        if self.n == 0 or np.any((q < 0) | (q > 1)):
            raise ValueError(f"need a non-empty sketch and q in [0, 1]; n={self.n}, q={q}")
        items = np.concatenate(self.levels)
        weights = np.concatenate([np.full(len(lv), 2.0**h) for h, lv in enumerate(self.levels)])
        order = np.argsort(items, kind="stable")
        at = np.searchsorted(np.cumsum(weights[order]), q * self.n, side="left")
        return items[order][np.minimum(at, len(items) - 1)]
        # END SOLUTION

    def merge(self, other: "KLLSketch") -> "KLLSketch":
        # BEGIN SOLUTION 5.1
        out = KLLSketch(min(self.k, other.k), seed=self.seed * 7919 + other.seed + self.n)
        depth = max(len(self.levels), len(other.levels))
        out.levels = [np.concatenate([s.levels[h] for s in (self, other) if h < len(s.levels)])
                      for h in range(depth)]
        out.n = self.n + other.n
        out._compress()
        return out
        # END SOLUTION


# %%
check("q1")

# %% [markdown]
# ## Exercise 5.2: HyperLogLog, distinct values in 4 KB
#
# Flajolet et al. (AofA 2007). Hash values to 64 bits (`hash64`, given, stable across
# processes); the top $p$ bits pick one of $m = 2^p$ registers, $\rho$ is the position of the
# first one bit in the other $64 - p$ (1 if the first is set, $65 - p$ if none), and $M_j$
# keeps the largest $\rho$. $\hat n = \alpha_m m^2 / \sum_j 2^{-M_j}$, $\alpha_m = 0.7213/(1
# + 1.079/m)$; if $\hat n \le \frac52 m$ and $V > 0$ registers are zero, $\hat n = m
# \ln(m/V)$. Error about $1.04/\sqrt m$; merge is a register-wise max, exact. Write
# `add_hashes`, `estimate`, `merge` (unequal $p$: `ValueError`); hint: `np.maximum.at`.

# %% tags=["export"]
class HyperLogLog(Registers):  # given: p, registers, add(values) = add_hashes(hash64(values))
    """Distinct-count sketch with ``2**p`` one-byte registers."""

    def add_hashes(self, hashes: np.ndarray) -> "HyperLogLog":
        # BEGIN SOLUTION 5.2
        h, rest_bits = np.asarray(hashes, dtype=np.uint64), 64 - self.p
        index = (h >> np.uint64(rest_bits)).astype(np.intp)
        rest, length = h & np.uint64((1 << rest_bits) - 1), np.zeros(len(h), dtype=np.int64)
        for shift in (32, 16, 8, 4, 2, 1):  # bit length by halving: exact, any numpy
            high = rest >= np.uint64(1 << shift)
            length, rest = length + shift * high, np.where(high, rest >> np.uint64(shift), rest)
        rho = rest_bits - (length + (rest > 0)) + 1
        np.maximum.at(self.registers, index, rho.astype(np.uint8))
        return self
        # END SOLUTION

    def estimate(self) -> float:
        # BEGIN SOLUTION 5.2
        m = len(self.registers)
        raw = 0.7213 / (1 + 1.079 / m) * m * m / np.sum(2.0 ** -self.registers.astype(float))
        zeros = int((self.registers == 0).sum())
        return float(m * np.log(m / zeros)) if raw <= 2.5 * m and zeros else float(raw)
        # END SOLUTION

    def merge(self, other: "HyperLogLog") -> "HyperLogLog":
        # BEGIN SOLUTION 5.2
        if other.p != self.p:
            raise ValueError(f"cannot merge HyperLogLogs with p={self.p} and p={other.p}")
        out = HyperLogLog(self.p)
        out.registers = np.maximum(self.registers, other.registers)
        return out
        # END SOLUTION


# %%
check("q2")

# %% [markdown]
# `ColumnProfile` (given) holds counts, nulls, non-numbers in a numeric column (a type change
# upstream must show), frequent values (Misra–Gries) and your sketches. Profile 2015 in
# batches of 100:

# %%
features_ref = comment_features(reference)
kinds = {c: column_kind(features_ref[c]) for c in features_ref.columns}
new_profile = lambda kind: ColumnProfile(kind, HyperLogLog(), KLLSketch() if kind == NUMERIC else None)
profile = {}
for batch in time_windows(present, 100):
    profile = merge_profiles(profile, profile_frame(comment_features(batch), new_profile, kinds))
chars = profile["n_chars"].quantiles
print(f"{chars.n} comments; median {chars.quantile(0.5):.0f} chars (exact "
      f"{comment_features(present)['n_chars'].median():.0f}), {chars.retained} numbers kept; "
      f"~{HyperLogLog().add(present['author']).estimate():.0f} authors "
      f"(exact {present['author'].nunique()})")

# %% [markdown]
# **Past one machine**: `profile_partitions` (given) profiles each partition of a Dask frame
# where it lives and merges pairwise as a task graph (on a cluster under a `distributed.Client`).

# %%
try:  # Dask is optional
    import dask.dataframe as dd

    big = dd.from_pandas(features_ref.sample(200_000, replace=True, random_state=0), npartitions=8)
    merged = profile_partitions(big, lambda part: profile_frame(part, new_profile, kinds),
                                merge_profiles)
    print(f"Dask: {merged['n_words'].count:,} rows; 90th percentile of words "
          f"{merged['n_words'].quantiles.quantile(0.9):.0f}")
except ImportError:
    pass

# %% [markdown]
# ## Part 2: drift tests
#
# Is a window $y_1..y_m$ from the reference's distribution ($x_1..x_n$)? **KS** (numbers): $D
# = \sup_t |F_x(t) - F_y(t)|$, $p \approx Q_{KS}((n_e + 0.12 + 0.11/n_e) D)$ with $n_e =
# \sqrt{nm/(n+m)}$ (`scipy.special.kolmogorov`). **Chi-square** (categories) on the $2 \times
# K$ table $O_{ij}$: $\chi^2 = \sum_{ij} (O_{ij} - E_{ij})^2 / E_{ij}$, $E_{ij} = R_i C_j / N$,
# $K - 1$ degrees of freedom: *both* samples are random (a goodness-of-fit test against the
# reference's shares flags drift that is not there); categories whose smallest expected count
# is under 5 are pooled (when 2+). On shares $r_b, c_b$ over shared bins: **PSI** $= \sum_b
# (c_b - r_b) \ln(c_b / r_b)$ (shares clipped at $10^{-4}$), **Jensen–Shannon** $\sqrt{\frac12
# \mathrm{KL}(r\|a) + \frac12 \mathrm{KL}(c\|a)}$, $a = (r+c)/2$; **normed Wasserstein**
# $\int |F_x - F_y|\,dt / \sigma_x$.
#
# ## Exercise 5.3: the univariate tests
#
# Write `ks_test`, `chi_square_test` (both `(statistic, p_value)`), `psi`, `jensen_shannon`,
# `wasserstein_normed`. Given: `numeric_sample` (drops NaN, refuses an empty sample),
# `ecdf_gap` ($F_x - F_y$ after each pooled sorted value; with ties, after the last). In
# `chi_square_test` a null is a category; an empty sample: `ValueError`.

# %% tags=["export"]
def ks_test(x: object, y: object) -> tuple[float, float]:
    # BEGIN SOLUTION 5.3
    x, y = numeric_sample(x, "reference"), numeric_sample(y, "current")
    z, gap = ecdf_gap(x, y)
    d = float(np.max(np.abs(gap[np.append(z[1:] != z[:-1], True)])))  # after tied runs
    en = math.sqrt(len(x) * len(y) / (len(x) + len(y)))
    return d, float(special.kolmogorov((en + 0.12 + 0.11 / en) * d))
    # END SOLUTION


def chi_square_test(x: object, y: object, min_expected: float = 5.0) -> tuple[float, float]:
    # BEGIN SOLUTION 5.3
    x, y = pd.Series(x), pd.Series(y)
    for name, sample in (("reference", x), ("current", y)):
        if len(sample) == 0:
            raise ValueError(f"the {name} sample is empty: nothing to compare")
    codes, _ = pd.factorize(pd.concat([x, y], ignore_index=True), use_na_sentinel=False)
    table = np.stack([np.bincount(codes[:len(x)], minlength=codes.max() + 1),
                      np.bincount(codes[len(x):], minlength=codes.max() + 1)]).astype(float)
    rows = table.sum(axis=1)
    rare = table.sum(axis=0) * rows.min() / rows.sum() < min_expected
    if rare.sum() > 1:
        table = np.column_stack([table[:, ~rare], table[:, rare].sum(axis=1)])
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = np.outer(rows, table.sum(axis=0)) / rows.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return chi2, float(stats.chi2.sf(chi2, table.shape[1] - 1))
    # END SOLUTION


def psi(r: np.ndarray, c: np.ndarray, eps: float = 1e-4) -> float:
    # BEGIN SOLUTION 5.3
    r, c = np.clip(np.asarray(r, float), eps, None), np.clip(np.asarray(c, float), eps, None)
    return float(np.sum((c - r) * np.log(c / r)))
    # END SOLUTION


def jensen_shannon(r: np.ndarray, c: np.ndarray) -> float:
    # BEGIN SOLUTION 5.3
    r, c = np.asarray(r, float) / np.sum(r), np.asarray(c, float) / np.sum(c)
    a = (r + c) / 2
    return float(np.sqrt(max(0.5 * special.rel_entr(r, a).sum()
                             + 0.5 * special.rel_entr(c, a).sum(), 0.0)))
    # END SOLUTION


def wasserstein_normed(x: object, y: object) -> float:
    # BEGIN SOLUTION 5.3
    x, y = numeric_sample(x, "reference"), numeric_sample(y, "current")
    z, gap = ecdf_gap(x, y)
    return float(np.sum(np.abs(gap[:-1]) * np.diff(z)) / max(np.std(x), 1e-12))
    # END SOLUTION


# %%
check("q3")

# %% [markdown]
# ## Exercise 5.4: MMD on text embeddings
#
# `TextEmbedder` (given: n-gram TF-IDF and SVD fitted on the reference) makes comments
# vectors; the **maximum mean discrepancy** (Gretton et al., JMLR 2012) compares two clouds:
# $\widehat{\mathrm{MMD}}^2 = \bar K_{XX} + \bar K_{YY} - 2 \bar K_{XY}$ (means over all
# entries), $k(a, b) = \exp(-\|a - b\|^2 / \ell)$, $\ell$ the median squared distance over
# pooled pairs $i < j$. **Permute** the pooled rows' sides $P$ times: $p = (1 + \#\{
# \text{permuted} \ge \text{observed}\}) / (1 + P)$, exact at any size. First cut a sample
# over `max_rows` with `rng.choice(len(x), max_rows, replace=False)` (x, then y; `rng =
# np.random.default_rng(seed)`), then permute with `rng`. Hint: $s = +1/n$ on reference rows,
# $-1/m$ on others: $s^\top K s$, all permutations in one product. Bad shapes: `ValueError`.

# %% tags=["export"]
def mmd_test(x: np.ndarray, y: np.ndarray, n_permutations: int = 199,
             max_rows: int = 500, seed: int = 0) -> tuple[float, float]:
    # BEGIN SOLUTION 5.4
    rng = np.random.default_rng(seed)
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    if len(x) < 2 or len(y) < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two samples of 2+ rows of equal width; got {x.shape}, {y.shape}")
    x = x[rng.choice(len(x), max_rows, replace=False)] if len(x) > max_rows else x
    y = y[rng.choice(len(y), max_rows, replace=False)] if len(y) > max_rows else y
    z = np.concatenate([x, y])
    sq = np.sum(z**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    K = np.exp(-d2 / max(np.median(d2[np.triu_indices(len(z), k=1)]), 1e-12))
    s = np.concatenate([np.full(len(x), 1 / len(x)), np.full(len(y), -1 / len(y))])
    S = np.stack([s] + [rng.permutation(s) for _ in range(n_permutations)], axis=1)
    mmd2 = np.einsum("ip,ip->p", S, K @ S)  # s' K s for every column
    return float(mmd2[0]), float((1 + np.sum(mmd2[1:] >= mmd2[0])) / (1 + n_permutations))
    # END SOLUTION


# %%
check("q4")

# %% [markdown]
# ## Exercise 5.5: many columns, one decision
#
# 20 undrifted columns at $\alpha = 0.05$: one flags, on average. Over the $m$ p-values
# computed (NaN stays NaN, not counted): **Bonferroni** $\tilde p_i = \min(1, m p_i)$ bounds
# the chance of any false alarm; **Benjamini–Hochberg** bounds the share of false alarms and
# keeps power: sorted, $\tilde p_{(i)} = \min_{j \ge i} \min(1, m p_{(j)} / j)$. Input order out.

# %% tags=["export"]
def bonferroni(p: np.ndarray) -> np.ndarray:
    # BEGIN SOLUTION 5.5
    p = np.asarray(p, dtype=float)
    return np.minimum(1.0, p * np.sum(~np.isnan(p)))
    # END SOLUTION


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    # BEGIN SOLUTION 5.5
    p = np.asarray(p, dtype=float)
    out, tested = np.full(p.shape, np.nan), np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * len(order) / np.arange(1, len(order) + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out
    # END SOLUTION


TESTS = DriftTests(ks_test, chi_square_test, psi, jensen_shannon, wasserstein_normed,
                   benjamini_hochberg)

# %%
check("q5")

# %% [markdown]
# `drift_report(reference, current, TESTS)` (given) runs your tests on every column, adjusts
# with BH and marks `drifted` at $\alpha = 0.05$. A column it cannot test (missing, renamed,
# retyped, empty, nulls jumped) gets a `status` and a `detail` and counts as drifted. Below:
# 2015 per window of 100 comments, with prediction drift (KS on P(spam)) and MMD on the text.

# %%
embedder = TextEmbedder(reference["text"])
emb_ref = embedder.transform(reference["text"])
windows = time_windows(present, 100)
starts = [w["date"].iloc[0].strftime("%b %d") for w in windows]
pvalues = pd.DataFrame({i: drift_report(features_ref, comment_features(w), TESTS)["p_adjusted"]
                        for i, w in enumerate(windows)})
pvalues.loc["P(spam)"] = [ks_test(p_ref, model.predict_proba(w["text"]))[1] for w in windows]
pvalues.loc["text (MMD)"] = [mmd_test(emb_ref, embedder.transform(w["text"]))[1] for w in windows]
plot_pvalues(pvalues, starts, "2015 window of 100 comments (first date)")  # given
plt.tight_layout()
plt.show()
report = drift_report(features_ref, comment_features(present), TESTS)  # all of 2015 at once
report[["test", "statistic", "p_adjusted", "psi", "js", "wasserstein", "drifted", "detail"]]
# alt: Heat map of log10 p-values per monitored column and per 2015 window; video and the model's P(spam) drift in every window, length and word counts in most, the text embedding's MMD p-value sits at its floor of 0.005 throughout, while capital and digit shares drift in only a few windows

# %% [markdown]
# ## Part 3: accuracy without labels
#
# **CBPE** (NannyML) calibrates the scores on the labelled reference with an isotonic
# regression $g$, then estimates accuracy without labels: $\widehat{\mathrm{acc}} = \frac1m
# \sum_i ([\hat y_i = 1]\, g(p_i) + [\hat y_i = 0] (1 - g(p_i)))$, $\hat y_i = [p_i \ge
# 0.5]$. Valid when only $P(x)$ shifts; under concept drift ($P(y \mid x)$) nothing can know.
#
# ## Exercise 5.6: confidence-based estimation
#
# Write `calibrate(p, y)` (an `IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")`
# of `y` on `p`) and `estimate(p)`; refuse (`ValueError`) scores outside $[0, 1]$ or NaN, unequal
# lengths, one class only, an empty window.

# %% tags=["export"]
class ConfidenceEstimator:
    """Label-free accuracy estimate from calibrated confidence (CBPE)."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def calibrate(self, p: np.ndarray, y: np.ndarray) -> "ConfidenceEstimator":
        # BEGIN SOLUTION 5.6
        p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
        if p.shape != y.shape or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
            raise ValueError(f"need scores in [0, 1] (no NaN), one per label; got {p.shape}, "
                             f"{y.shape}")
        if len(np.unique(y)) < 2:
            raise ValueError("the reference has one class only: calibration needs both")
        self.calibrator_ = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y)
        return self
        # END SOLUTION

    def estimate(self, p: np.ndarray) -> float:
        # BEGIN SOLUTION 5.6
        p = np.asarray(p, dtype=float)
        if len(p) == 0:
            raise ValueError("no scores: an empty window has no accuracy")
        q = self.calibrator_.predict(p)
        return float(np.mean(np.where(p >= self.threshold, q, 1 - q)))
        # END SOLUTION


# %%
check("q6")

# %%
# 2015 against the realized accuracy (labels come later); the holdout with injected drift
estimator = ConfidenceEstimator().calibrate(p_ref, reference["label"])
acc = lambda frame, p: float(((p >= 0.5) == frame["label"].to_numpy()).mean())
scores = [model.predict_proba(w["text"]) for w in windows]
drifts = {"none": holdout} | {kind: inject_drift(holdout, kind, np.random.default_rng(0))
                              for kind in ("covariate", "label", "concept", "broken_feature")}
shifted = [model.predict_proba(f["text"]) for f in drifts.values()]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 2]})
plot_accuracy(axes[0], starts, [acc(w, p) for w, p in zip(windows, scores)],
              [estimator.estimate(p) for p in scores]).set_title("2015, windows of 100")
plot_accuracy(axes[1], [k.replace("_", "\n") for k in drifts], [acc(f, p) for f, p in zip(drifts.values(), shifted)],
              [estimator.estimate(p) for p in shifted], bars=True).set_title("injected drift")
plt.tight_layout()
plt.show()
# alt: Left, realized and estimated accuracy for each 2015 window; the estimate is within about 4 points except in the first window, where new spam campaigns make it 9 points too optimistic. Right, realized and estimated accuracy on the holdout with no drift and with four injected drifts; the estimate is close for covariate and label shift and blind to concept drift and to the broken feature

# %% [markdown]
# ## Part 4: alerts people can act on
#
# An **alert rule** watches one metric for every key (a column, the model). It **fires** when
# the metric breaches `threshold` in `fire_after` consecutive windows, dated from the first;
# while open it is **not raised again** (de-duplication) but tracks the latest and worst values
# and the last window; it **resolves** after `clear_after` consecutive windows at or past the
# stricter `clear_threshold` (**hysteresis**: no flapping). NaN changes nothing.
# `higher_is_worse=False` flips it: breach is `value < threshold`, calm `value >= clear_threshold`.
#
# ## Exercise 5.7: the alert rule
#
# Write `update(window, values, when)`: return the alerts that fire *now* (`Alert`, given);
# keep open ones in `self.open` by key and every alert fired in `self.history`.

# %% tags=["export"]
class AlertRule(AlertState):  # given: the settings, open, history, _run, _calm, sign
    """Fire after ``fire_after`` breaching windows, de-duplicate, clear with hysteresis."""

    def update(self, window: int, values: dict, when: object = None) -> list[Alert]:
        # BEGIN SOLUTION 5.7
        fired, worse = [], lambda a, b: max(a, b, key=lambda v: self.sign * v)
        for key, value in values.items():
            value = float(value)
            if math.isnan(value):
                continue
            breach = self.sign * (value - self.threshold) > 0
            run, first, since, worst = self._run.get(key, (0, window, when, value))
            if run == 0:
                first, since, worst = window, when, value
            self._run[key] = (run + 1, first, since, worse(worst, value)) if breach else (0,)*4
            alert = self.open.get(key)
            if alert is not None:
                alert.value, alert.last_window = value, window
                alert.worst = worse(alert.worst, value)
                calm = self.sign * (value - self.clear_threshold) <= 0
                self._calm[key] = self._calm.get(key, 0) + 1 if calm else 0
                if self._calm[key] >= self.clear_after:
                    alert.resolved_window = window
                    del self.open[key]
            elif breach and run + 1 >= self.fire_after:
                alert = Alert(self.name, str(key), self.threshold, first, since, value,
                              worse(worst, value), window)
                self.open[key], self._calm[key] = alert, 0
                self.history.append(alert)
                fired.append(alert)
        return fired
        # END SOLUTION


# %%
check("q7")

# %% [markdown]
# ## The monitor on a stream with known drift
#
# Windows of 50 held-out comments, 0–4 clean, 5–9 drifted; `run_monitor` (given) runs the rules.

# %%
base_accuracy = estimator.estimate(p_ref)
FEATURES, EMBEDDING = list(features_ref.columns), [f"e{i}" for i in range(emb_ref.shape[1])]
scored = lambda stream: score_comments(stream, model, embedder)  # given: all columns, once


def measure(window: pd.DataFrame) -> dict[str, dict[str, float]]:
    report = drift_report(features_ref, window[FEATURES], TESTS)
    return {"p_adjusted": report["p_adjusted"].to_dict(),
            "broken": (report["status"] != "ok").astype(float).to_dict(),
            "mmd_p": {"text": mmd_test(emb_ref, window[EMBEDDING].to_numpy())[1]},
            "estimated_accuracy": {"model": estimator.estimate(window["p_spam"])}}


rules = lambda: [AlertRule("feature drift", "p_adjusted", 0.01, 0.1, higher_is_worse=False),
                 AlertRule("text drift", "mmd_p", 0.01, 0.1, higher_is_worse=False),
                 AlertRule("accuracy drop", "estimated_accuracy", base_accuracy - 0.05,
                           base_accuracy - 0.02, higher_is_worse=False),
                 AlertRule("broken column", "broken", 0.5, fire_after=1)]
pool = holdout.sample(frac=1.0, random_state=1)
clean = time_windows(scored(pool.iloc[:250]), 50)
for kind in ("covariate", "label", "concept", "broken_feature"):
    drifted = scored(inject_drift(pool, kind, np.random.default_rng(0)))
    stream = clean + [drifted.sample(50, random_state=i) for i in range(5)]
    alerts = run_monitor(stream, measure, rules())[1]
    print(f"{kind}: {len(alerts)} alerts", *[a.message() for a in alerts][:4], sep="\n  ")

# %% [markdown]
# Concept drift changes only $P(y \mid x)$: no test on $x$ sees it, and the estimate stays.
# Only labels reveal it: a monitor needs delayed labels and a way back into labeling.
#
# ## Part 5: closing the loop
#
# The first half of 2015's labels come back. Which LFs broke? Coverage and accuracy per LF:

# %%
early, late = present.iloc[: len(present) // 2], present.iloc[len(present) // 2:]


def lf_health(frame: pd.DataFrame, lfs) -> pd.DataFrame:
    L = label_matrix(frame["text"], lfs)
    votes = L != -1
    right = (L == frame["label"].to_numpy()[:, None]).sum(0) / np.maximum(votes.sum(0), 1)
    return pd.DataFrame({"coverage": votes.mean(0), "accuracy": right}, [lf.name for lf in lfs])


missed = early[(early["label"] == 1) & (label_matrix(early["text"]) != 1).all(axis=1)]
print("spam no LF catches:", *missed["text"].str.slice(0, 60).head(5), sep="\n  ")
pd.concat({"reference": lf_health(reference, SPAM_PATTERN_LFS),
           "early 2015": lf_health(early, SPAM_PATTERN_LFS)}, axis=1).round(2)

# %% [markdown]
# A new campaign ("like this comment if...") slips past every LF, and `my` fires on fans too.
# Fix the LFs, retrain on old and early 2015 comments (weak labels), compare on late 2015.

# %%
fixed_lfs = [lf for lf in SPAM_PATTERN_LFS if lf.name != "my"] + [
    PatternLF("my_channel", r"\bmy (?:channel|video|page|music|song)", 1),
    PatternLF("like_if", r"\b(?:like|thumbs up) (?:this comment )?if\b|give it a like", 1),
    PatternLF("look_at_video", r"(?:check out|take a look at) this (?:video|playlist)", 1)]
retrained = SpamFilter(fixed_lfs).train(pd.concat([train["text"], early["text"]]),
                                      reference["text"], reference["label"])
late_windows = time_windows(late, 75)
ax = plt.subplots(figsize=(8, 3.4))[1]
for name, m, marker in (("old model", model, "o"), ("fixed LFs, retrained", retrained, "s")):
    cal = ConfidenceEstimator().calibrate(m.predict_proba(reference["text"]),
                                          reference["label"])
    ps = [m.predict_proba(w["text"]) for w in late_windows]
    plot_accuracy(ax, [w["date"].iloc[0].strftime("%b %d") for w in late_windows],
                  [acc(w, p) for w, p in zip(late_windows, ps)], [cal.estimate(p) for p in ps],
                  name=name, marker=marker)
plt.tight_layout()
plt.show()
lf_health(late, fixed_lfs).round(2).T
# alt: Realized and estimated accuracy on the late 2015 windows for the old model and for the model retrained with fixed LFs; the retrained model is as accurate or more in four of the five windows

# %% [markdown]
# ## Bad input: each case gets a status and a sentence, never a crash or a silent pass
#
# Going further: windows of 50 against 200 (detection delay against false alarms); correct
# label shift without labels by re-estimating the class balance (Lipton et al., ICML 2018).

# %%
cur = comment_features(present.iloc[:200])
broken = {"NaN": cur.assign(n_chars=cur.n_chars.where(np.arange(200) % 3 > 0)),
          "renamed": cur.rename(columns={"n_words": "num_words"}), "empty": cur.iloc[:0],
          "unseen": cur.assign(video=7), "type": cur.assign(n_chars=cur.n_chars.astype(str) + "c")}
pd.concat({name: drift_report(features_ref, frame, TESTS).query("status != 'ok' or detail > ''")
           [["status", "drifted", "detail"]] for name, frame in broken.items()})
