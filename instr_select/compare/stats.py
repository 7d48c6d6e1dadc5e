"""Paired comparison of each selector against random: per-target differences, bootstrap CI, tests.

A selector and ``random`` are paired on (target, seed): the same target, budget and seed. The
per-target difference is the mean over seeds; the reported difference is the mean over targets,
its 95% interval a percentile bootstrap over targets (``scipy.stats.bootstrap``, seeded), and the
tests across targets are the sign test (``scipy.stats.binomtest``) and the Wilcoxon signed-rank
test (``scipy.stats.wilcoxon``) on the per-target differences.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

import numpy as np

REFERENCE = "random"
MEASURES = {"score": "higher is better", "gold_nll": "lower is better"}


def per_target_differences(
    cells: list[dict[str, Any]], selector: str, measure: str, reference: str = REFERENCE
) -> dict[str, float]:
    """target -> mean over shared seeds of (selector - reference) for one measure."""
    values: dict[tuple[str, str, int], float] = {}
    for cell in cells:
        if cell.get(measure) is not None:
            values[cell["target"], cell["selector"], cell["seed"]] = float(cell[measure])
    diffs: dict[str, list[float]] = defaultdict(list)
    for (target, name, seed), value in values.items():
        if name == selector and (target, reference, seed) in values:
            diffs[target].append(value - values[target, reference, seed])
    return {t: statistics.fmean(d) for t, d in sorted(diffs.items())}


def bootstrap_interval(values: list[float], resamples: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (resampling the targets; ``scipy.stats.bootstrap``)."""
    if len(values) < 2:
        return (float("nan"), float("nan"))
    if min(values) == max(values):  # every resample has the same mean (scipy warns and returns NaN)
        return (float(values[0]), float(values[0]))
    from scipy import stats

    result = stats.bootstrap(
        (np.asarray(values, dtype=np.float64),),
        np.mean,
        n_resamples=resamples,
        confidence_level=0.95,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_tests(diffs: list[float]) -> dict[str, Any]:
    """Sign test and Wilcoxon signed-rank test of the per-target differences (two-sided)."""
    from scipy import stats

    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    sign_p = float(stats.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else float("nan")
    nonzero = [d for d in diffs if d != 0]
    wilcoxon_p = float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) >= 2 else float("nan")
    return {"wins": wins, "losses": losses, "ties": len(diffs) - wins - losses, "sign_p": sign_p,
            "wilcoxon_p": wilcoxon_p}  # fmt: skip


def paired_summary(cells: list[dict[str, Any]], selectors: list[str], reference: str = REFERENCE) -> dict[str, Any]:
    """selector -> measure -> mean difference against ``reference``, its interval and the tests."""
    out: dict[str, Any] = {}
    if not any(c["selector"] == reference for c in cells):
        return out
    for selector in selectors:
        if selector == reference:
            continue
        out[selector] = {}
        for measure in MEASURES:
            per_target = per_target_differences(cells, selector, measure, reference)
            diffs = list(per_target.values())
            if not diffs:
                continue
            low, high = bootstrap_interval(diffs)
            out[selector][measure] = {
                "mean": statistics.fmean(diffs),
                "ci95": [low, high],
                "targets": len(diffs),
                "per_target": per_target,
                **paired_tests(diffs),
            }
    return out
