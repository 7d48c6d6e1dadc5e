"""How well one selector's ranking of the sources matches the true transfer to one target.

Every function takes ``predicted`` (the selector's score per source, higher = ranked first) and
``truth`` (the measured transfer per source, higher = more helpful) for one target. Sources whose
truth is NaN (not run) are left out; a metric needs at least two sources left, else it is NaN.
Sources the selector could not score (NaN in ``predicted``) are ranked last.

Ties are broken by source order (the row order of the matrix), in both rankings: the predicted
order is a stable sort of the scores, and so is the true order, so among equally helpful sources
the earlier one takes the better true rank (and, for NDCG, the larger gain).

- **NDCG** over the full ranking with TaskWeb's gain (Kim et al. 2023): a source of true rank r
  (1 = most helpful) of n has gain 2^(n - r) - 1; DCG sums gain / log2(position + 1) over the
  predicted order and is divided by the ideal DCG. The gain is exponential, so the few most
  helpful sources carry nearly all of it. (Computed as 2^(1 - r) - 2^(1 - n), the gain scaled by
  2^-(n-1): NDCG is unchanged and no power overflows for large n.)
- **Regret@k**: (mean truth of the best k - mean truth of the predicted top k) / (mean truth of
  the best k - mean truth of the worst k); 0 = picks the best k, 1 = picks the worst k, 0 when all
  sources transfer equally (or k >= n). TaskWeb's regret is a ratio of performances, which is not
  defined for transfer deltas that change sign; this normalisation by the best-to-worst range is.
- **Precision@k**: the share of the predicted top k among the k truly most helpful sources.

k larger than the number of sources n is taken as n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

METRICS = ("ndcg", "regret", "precision")
BETTER = {"ndcg": "higher", "regret": "lower", "precision": "higher"}


def _pair(predicted: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The sources with a truth value: (predicted, truth), or None when fewer than two or none scored."""
    predicted, truth = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if predicted.shape != truth.shape or predicted.ndim != 1:
        raise ValueError(f"predicted {predicted.shape} and truth {truth.shape} must be 1-d of one length")
    keep = ~np.isnan(truth)
    predicted, truth = predicted[keep], truth[keep]
    if len(truth) < 2 or np.isnan(predicted).all():
        return None
    return predicted, truth


def predicted_order(predicted: np.ndarray) -> np.ndarray:
    """Source indices best first: scores descending, ties and NaN (last) in source order."""
    predicted = np.asarray(predicted, dtype=np.float64)
    key = np.where(np.isnan(predicted), np.inf, -predicted)
    return np.argsort(key, kind="stable")


def true_order(truth: np.ndarray) -> np.ndarray:
    """Source indices most helpful first, ties in source order."""
    return np.argsort(-np.asarray(truth, dtype=np.float64), kind="stable")


def _gains(truth: np.ndarray) -> np.ndarray:
    """TaskWeb's gain of each source, scaled by 2^-(n-1)."""
    n = len(truth)
    ranks = np.empty(n, dtype=np.float64)
    ranks[true_order(truth)] = np.arange(1, n + 1)
    return np.exp2(1.0 - ranks) - math.pow(2.0, 1.0 - n)


def _discounts(n: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))


def ndcg(predicted: np.ndarray, truth: np.ndarray) -> float:
    """NDCG of the full predicted ranking with gain 2^(n - r) - 1 (see the module notes)."""
    pair = _pair(predicted, truth)
    if pair is None:
        return float("nan")
    predicted, truth = pair
    gains, discounts = _gains(truth), _discounts(len(truth))
    ideal = float(np.sort(gains)[::-1] @ discounts)
    return float(gains[predicted_order(predicted)] @ discounts) / ideal


def _top_means(truth: np.ndarray, k: int) -> tuple[float, float]:
    ordered = truth[true_order(truth)]
    return float(ordered[:k].mean()), float(ordered[-k:].mean())


def regret_at_k(predicted: np.ndarray, truth: np.ndarray, k: int = 5) -> float:
    """(best k - predicted top k) / (best k - worst k) of the mean truth; 0 best, 1 worst, 0 if all equal."""
    pair = _pair(predicted, truth)
    if pair is None:
        return float("nan")
    predicted, truth = pair
    k = min(_check_k(k), len(truth))
    best, worst = _top_means(truth, k)
    if best == worst:
        return 0.0
    picked = float(truth[predicted_order(predicted)[:k]].mean())
    return (best - picked) / (best - worst)


def precision_at_k(predicted: np.ndarray, truth: np.ndarray, k: int = 5) -> float:
    """Share of the predicted top k that are among the k truly most helpful sources."""
    pair = _pair(predicted, truth)
    if pair is None:
        return float("nan")
    predicted, truth = pair
    k = min(_check_k(k), len(truth))
    hits = np.intersect1d(predicted_order(predicted)[:k], true_order(truth)[:k])
    return len(hits) / k


def metric(name: str, predicted: np.ndarray, truth: np.ndarray, k: int = 5) -> float:
    if name == "ndcg":
        return ndcg(predicted, truth)
    if name == "regret":
        return regret_at_k(predicted, truth, k)
    if name == "precision":
        return precision_at_k(predicted, truth, k)
    raise ValueError(f"unknown metric {name!r} (choose from: {', '.join(METRICS)})")


def random_expectation(truth: np.ndarray, k: int = 5) -> dict[str, tuple[float, float]]:
    """metric -> (mean, std) of a uniformly random ranking of the sources with a truth value: exact.

    - NDCG: DCG = sum_p w_p g_pi(p) over a random permutation pi, so its mean is n mean(w) mean(g)
      and its variance sum (w - mean w)^2 sum (g - mean g)^2 / (n - 1) (Hoeffding 1951);
    - Regret@k: the random top k is a k-subset drawn without replacement: its mean truth has mean
      mean(truth) and variance var(truth) / k (n - k) / (n - 1) (var with ddof 0);
    - Precision@k: the overlap with the true top k is hypergeometric (population n, k marked, k
      drawn): mean exactly k/n, variance k (k/n) ((n - k)/n) ((n - k)/(n - 1)) / k^2.

    ``tests/test_transfer_scoring.py`` checks these against every permutation of small cases.
    """
    nan = (float("nan"), float("nan"))
    truth = np.asarray(truth, dtype=np.float64)
    truth = truth[~np.isnan(truth)]
    n = len(truth)
    if n < 2:
        return dict.fromkeys(METRICS, nan)
    k = min(_check_k(k), n)
    gains, discounts = _gains(truth), _discounts(n)
    ideal = float(np.sort(gains)[::-1] @ discounts)
    ndcg_mean = n * gains.mean() * discounts.mean() / ideal
    ndcg_var = ((discounts - discounts.mean()) ** 2).sum() * ((gains - gains.mean()) ** 2).sum() / (n - 1)
    best, worst = _top_means(truth, k)
    if best == worst:
        regret = (0.0, 0.0)
    else:
        spread = math.sqrt(truth.var() / k * (n - k) / (n - 1))
        regret = ((best - float(truth.mean())) / (best - worst), spread / (best - worst))
    return {
        "ndcg": (float(ndcg_mean), math.sqrt(max(ndcg_var, 0.0)) / ideal),
        "regret": (float(regret[0]), float(regret[1])),
        "precision": (k / n, math.sqrt(k * (k / n) * ((n - k) / n) * ((n - k) / (n - 1))) / k),
    }


def random_draws(
    truth: np.ndarray, k: int = 5, draws: int = 10000, seed: int | Sequence[int] = 0
) -> dict[str, np.ndarray]:
    """metric -> its value under each of ``draws`` seeded uniformly random rankings (the randomisation null).

    The same definitions as the metrics above (sources with a truth value only); all NaN below two sources.
    """
    truth = np.asarray(truth, dtype=np.float64)
    truth = truth[~np.isnan(truth)]
    n = len(truth)
    if n < 2:
        return {m: np.full(draws, np.nan) for m in METRICS}
    k = min(_check_k(k), n)
    orders = np.random.default_rng(seed).permuted(np.tile(np.arange(n), (draws, 1)), axis=1)
    gains, discounts = _gains(truth), _discounts(n)
    ideal = float(np.sort(gains)[::-1] @ discounts)
    best, worst = _top_means(truth, k)
    picked = truth[orders[:, :k]].mean(axis=1)
    top = np.zeros(n, dtype=bool)
    top[true_order(truth)[:k]] = True
    return {
        "ndcg": gains[orders] @ discounts / ideal,
        "regret": np.zeros(draws) if best == worst else (best - picked) / (best - worst),
        "precision": top[orders[:, :k]].sum(axis=1) / k,
    }


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a whole number of at least 1, got {k!r}")
    return int(k)
