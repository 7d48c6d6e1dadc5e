"""Every selector scored against a transfer matrix: per-target metrics, intervals, tests, table, chart.

Per view (``nll`` on every target; ``accuracy`` on the targets with answer options) and per
selector: NDCG, Regret@k and Precision@k of its ranking on each target (see
:mod:`instr_select.transfer.metrics`), their mean over targets with a 95% percentile bootstrap
interval over targets, and the per-target difference from random's exact expectation on that
target: its mean and interval, and three two-sided tests of "no better than a random ranking":

- ``p_random``: a randomisation test. The null distribution of the mean difference is that of
  uniformly random rankings, drawn on every target (``RANDOM_DRAWS`` seeded draws); calibrated.
- ``sign_p`` and ``wilcoxon_p`` (``instr_select.compare.stats.paired_tests``): the sign test and
  Wilcoxon signed-rank test of the per-target differences. They test a zero median (Wilcoxon: a
  distribution symmetric about zero), but a random ranking's metric is skewed about its mean and,
  for P@k, discrete (with k/n = 5/26, a random top 5 holds at least one of the best 5 on 69% of
  targets, a "win" over the expectation 0.19), so under the null they reject far too often (at
  5%: about 19% and 15% for NDCG, 34% and 20% for P@5, 26 sources and 21 targets, simulated).
  They are reported; read ``p_random``.

``random``'s row is its expectation, with its spread: the standard deviation of one random
ranking on a target (root mean square over targets) and of its mean over the targets.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.compare.stats import bootstrap_interval, paired_tests
from instr_select.transfer.matrix import VIEWS, TransferMatrix
from instr_select.transfer.metrics import BETTER, METRICS, metric, random_draws, random_expectation

REFERENCE = "random"
RANDOM_DRAWS = 10000
LABELS = {"ndcg": "NDCG", "regret": "Regret@{k}", "precision": "P@{k}"}


def view_columns(matrix: TransferMatrix, view: str, targets: Sequence[str] | None = None) -> list[int]:
    """The targets a view scores: all for ``nll``, those with answer options for ``accuracy``;
    only those in ``targets`` when given (a split)."""
    columns = list(range(len(matrix.targets))) if view == "nll" else matrix.targets_with_options()
    if targets is None:
        return columns
    kept = set(targets)
    return [j for j in columns if matrix.targets[j] in kept]


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def _summary(values: list[float], seed: int) -> dict[str, Any]:
    kept = _finite(values)
    if not kept:
        return {"mean": float("nan"), "ci95": [float("nan"), float("nan")], "targets": 0}
    low, high = bootstrap_interval(kept, seed=seed)
    return {"mean": statistics.fmean(kept), "ci95": [low, high], "targets": len(kept)}


def score_selectors(
    matrix: TransferMatrix,
    scores: dict[str, np.ndarray],
    k: int = 5,
    seed: int = 0,
    targets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score each selector's (S, T) scores (higher = ranked first) against the matrix, on both views,
    over every target or only ``targets`` (a split).

    Returns ``{"k", "seed", "sources", "targets", "selectors", "views": {view: {"targets": [...],
    "selectors": {name: {"per_target": {metric: [...]}, "summary": {metric: {...}},
    "vs_random": {metric: {...}}}}}}}``; random has ``"std"`` per target and a spread per metric.
    """
    shape = (len(matrix.sources), len(matrix.targets))
    for name, values in scores.items():
        if name == REFERENCE:
            raise ValueError("random is scored by its expectation: leave it out of scores")
        if np.shape(values) != shape:
            raise ValueError(f"scores of {name!r} have shape {np.shape(values)}, expected {shape}")
    report: dict[str, Any] = {
        "k": k,
        "seed": seed,
        "sources": list(matrix.sources),
        "targets": list(matrix.targets),
        "selectors": [REFERENCE, *scores],
        "better": dict(BETTER),
        "views": {},
    }
    for view in VIEWS:
        truth = matrix.transfer(view)
        columns = view_columns(matrix, view, targets)
        expected = [random_expectation(truth[:, j], k) for j in columns]
        random_values = {m: [e[m][0] for e in expected] for m in METRICS}
        random_std = {m: [e[m][1] for e in expected] for m in METRICS}
        rows: dict[str, Any] = {REFERENCE: _random_row(random_values, random_std, seed)}
        draws = [random_draws(truth[:, j], k, RANDOM_DRAWS, seed=(seed, j)) for j in columns]
        null = {m: np.stack([d[m] for d in draws], axis=1) - np.array(random_values[m]) for m in METRICS}
        for name, values in scores.items():
            values = np.asarray(values, dtype=np.float64)
            per_target = {m: [metric(m, values[:, j], truth[:, j], k) for j in columns] for m in METRICS}
            rows[name] = {
                "per_target": per_target,
                "summary": {m: _summary(per_target[m], seed) for m in METRICS},
                "vs_random": {m: _paired(per_target[m], random_values[m], null[m], seed) for m in METRICS},
            }
        report["views"][view] = {"targets": [matrix.targets[j] for j in columns], "selectors": rows}
    return report


def _random_row(values: dict[str, list[float]], std: dict[str, list[float]], seed: int) -> dict[str, Any]:
    summary = {}
    for m in METRICS:
        summary[m] = _summary(values[m], seed)
        spread = _finite(std[m])
        summary[m]["sd_per_target"] = math.sqrt(statistics.fmean(s * s for s in spread)) if spread else float("nan")
        summary[m]["sd_of_mean"] = math.sqrt(sum(s * s for s in spread)) / len(spread) if spread else float("nan")
    return {"per_target": values, "std": std, "summary": summary}


def _paired(values: list[float], reference: list[float], null: np.ndarray, seed: int) -> dict[str, Any]:
    """Per-target differences from random's expectation: mean, 95% interval and the three tests.

    ``null``: (draws, targets) differences of random rankings from the expectation, per target.
    """
    every = np.array(values, dtype=np.float64) - np.array(reference, dtype=np.float64)
    kept = ~np.isnan(every)
    diffs = every[kept].tolist()
    if not diffs:
        return {"mean": float("nan"), "ci95": [float("nan"), float("nan")], "targets": 0, "per_target": []}
    low, high = bootstrap_interval(diffs, seed=seed)
    mean = statistics.fmean(diffs)
    null_means = null[:, kept].mean(axis=1)
    extreme = int(np.count_nonzero(np.abs(null_means) >= abs(mean) - 1e-12))
    return {"mean": mean, "ci95": [low, high], "targets": len(diffs), "per_target": every.tolist(),
            "p_random": (1 + extreme) / (1 + len(null_means)), **paired_tests(diffs)}  # fmt: skip


# --- the table --------------------------------------------------------------------------------------
def _num(value: float, signed: bool = False) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.3f}" if signed else f"{value:.3f}"


def _interval(entry: dict[str, Any], signed: bool = False) -> str:
    low, high = entry["ci95"]
    if math.isnan(entry["mean"]):
        return "n/a"
    if math.isnan(low):
        return _num(entry["mean"], signed)
    return f"{_num(entry['mean'], signed)} [{_num(low, signed)}, {_num(high, signed)}]"


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else "<0.001" if value < 0.001 else f"{value:.2g}"


def markdown(report: dict[str, Any], legend: bool = True) -> str:
    """One table: a row per (view, selector), each metric's mean [95% CI] and its difference from random;
    then (``legend``) what the cells mean."""
    k = report["k"]
    labels = [LABELS[m].format(k=k) for m in METRICS]
    lines = [
        "| view | selector | " + " | ".join(labels) + " | " + " | ".join(f"Δ {label}" for label in labels) + " |",
        "|" + " --- |" * (2 + 2 * len(METRICS)),
    ]
    for view, data in report["views"].items():
        if not data["targets"]:
            lines.append(f"| {view} (no target) | " + " | " * (1 + 2 * len(METRICS)))
            continue
        for name, row in data["selectors"].items():
            cells = [f"{view} ({len(data['targets'])} targets)", name]
            if name == REFERENCE:
                cells += [f"{_num(row['summary'][m]['mean'])} ± {_num(row['summary'][m]['sd_per_target'])}"
                          for m in METRICS]  # fmt: skip
                cells += ["–"] * len(METRICS)
            else:
                cells += [_interval(row["summary"][m]) for m in METRICS]
                for m in METRICS:
                    diff = row["vs_random"][m]
                    tests = ""
                    if diff["targets"]:
                        tests = f" p {_p(diff['p_random'])} (sign {_p(diff['sign_p'])}, W {_p(diff['wilcoxon_p'])})"
                    cells.append(_interval(diff, signed=True) + tests)
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if not legend:
        return "\n".join(lines)
    lines.append(
        f"{labels[0]}: the full ranking against the true transfer (higher is better, 1 = the true order); "
        f"{labels[1]}: how far the mean true transfer of the top {k} falls from the best {k}'s, as a share of "
        f"the best-to-worst range (lower is better, 0 = the best {k}, 1 = the worst {k}); {labels[2]}: the share "
        f"of the top {k} among the {k} truly most helpful sources (higher is better). Cells: mean over targets "
        "[95% bootstrap interval over targets]; Δ: the selector minus random's expectation on each target, mean "
        "[95% interval]; p: randomisation test against random rankings on every target (two-sided; the sign "
        "test and Wilcoxon signed-rank test in brackets reject too often here: random's distribution is skewed and, "
        "for P@k, discrete); random: its exact expectation ± the "
        "standard deviation of one random ranking on a target. nll view: all targets; accuracy view: the "
        "targets with answer options."
    )
    return "\n".join(lines) + "\n"


# --- the chart --------------------------------------------------------------------------------------
def chart(report: dict[str, Any], path: str | Path) -> Path | None:
    """Per view a panel: each selector's difference from random on the three metrics, 95% intervals.

    Regret@k is drawn as its reduction (random - selector), so right is better on every metric.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from instr_select.atomic import atomic_file

    views = [(v, d) for v, d in report["views"].items() if d["targets"]]
    names = [n for n in report["selectors"] if n != REFERENCE]
    if not views:
        return None
    k = report["k"]
    colours = {"ndcg": "#1f77b4", "regret": "#d62728", "precision": "#2ca02c"}
    legend = {"ndcg": "NDCG", "regret": f"Regret@{k} reduction", "precision": f"P@{k}"}
    fig, axes = plt.subplots(1, len(views), figsize=(12.0, 5.0), sharey=True, squeeze=False)
    for ax, (view, data) in zip(axes[0], views, strict=True):
        for i, metric_name in enumerate(METRICS):
            sign = -1.0 if metric_name == "regret" else 1.0
            for y, name in enumerate(names):
                diff = data["selectors"][name]["vs_random"][metric_name]
                if not diff["targets"] or math.isnan(diff["mean"]):
                    continue
                mean, (low, high) = sign * diff["mean"], sorted(sign * v for v in diff["ci95"])
                error = None if math.isnan(low) else [[max(mean - low, 0.0)], [max(high - mean, 0.0)]]
                ax.errorbar(mean, y + (i - 1) * 0.22, xerr=error, fmt="o", color=colours[metric_name], capsize=3,
                            ms=5, label=legend[metric_name] if y == 0 else None)  # fmt: skip
        if names:
            ax.set_yticks(range(len(names)))
            ax.set_yticklabels(names, fontsize=11)
            ax.set_ylim(len(names) - 0.5, -0.5)
        else:
            ax.text(0.5, 0.5, "only random was scored", ha="center", va="center", transform=ax.transAxes)
        ax.axvline(0.0, color="grey", lw=1)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"{view} view: {len(data['targets'])} targets", fontsize=11)
        ax.set_xlabel("difference from random's expectation (right = better)", fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=10, frameon=False)
    fig.suptitle(
        f"Selectors against the transfer matrix: mean over targets of (selector - random), 95% bootstrap interval "
        f"({len(report['sources'])} sources, k = {k})",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
