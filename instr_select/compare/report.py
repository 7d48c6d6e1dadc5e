"""The comparison report: a markdown table, selection overlap, selection cost, a bar chart, a JSON."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from instr_select.atomic import atomic_file


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(cells: list[dict[str, Any]], selectors: list[str]) -> dict[str, Any]:
    """Mean and spread over seeds per (target, selector), overlap and cost per selector."""
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    picks: dict[tuple[str, str], list[set[str]]] = defaultdict(list)
    cost: dict[str, list[float]] = defaultdict(list)
    metric: dict[str, str] = {}
    for cell in cells:
        scores[cell["target"], cell["selector"]].append(cell["score"])
        picks[cell["target"], cell["selector"]].append(set(cell["selection"]))
        cost[cell["selector"]].append(cell["selection_seconds"])
        metric[cell["target"]] = cell["metric"]
    targets = sorted({c["target"] for c in cells})
    table = {
        t: {s: dict(zip(("mean", "std"), _mean_std(scores[t, s]), strict=True)) for s in selectors if scores[t, s]}
        for t in targets
    }
    # overall: the mean over targets; its spread is over seeds of the per-seed mean over targets
    by_seed: dict[tuple[str, int], list[float]] = defaultdict(list)
    for cell in cells:
        by_seed[cell["selector"], cell["seed"]].append(cell["score"])
    overall = {}
    for s in selectors:
        per_target = [statistics.fmean(scores[t, s]) for t in targets if scores[t, s]]
        if per_target:
            seed_means = [statistics.fmean(v) for (sel, _), v in by_seed.items() if sel == s]
            spread = statistics.stdev(seed_means) if len(seed_means) > 1 else 0.0
            overall[s] = {"mean": statistics.fmean(per_target), "std": spread}
    overlap: dict[str, float] = {}
    for a, b in itertools.combinations(selectors, 2):
        values = [
            len(x & y) / len(x | y) for t in targets for x, y in zip(picks[t, a], picks[t, b], strict=False) if x | y
        ]
        if values:
            overlap[f"{a}~{b}"] = statistics.fmean(values)
    costs = {s: {"mean": statistics.fmean(v), "total": sum(v)} for s, v in cost.items()}
    return {
        "targets": targets,
        "metric": metric,
        "table": table,
        "overall": overall,
        "overlap": overlap,
        "cost_seconds": costs,
    }


def markdown(summary: dict[str, Any], selectors: list[str], baseline: dict[str, float] | None = None) -> str:
    shown = [s for s in selectors if s in summary["overall"]]
    lines = ["| target | metric | " + " | ".join(shown) + (" | no tuning |" if baseline else " |")]
    lines.append("|" + " --- |" * (len(shown) + 2 + bool(baseline)))
    for target in summary["targets"]:
        row = summary["table"][target]
        cells = [f"{row[s]['mean']:.1f} ± {row[s]['std']:.1f}" if s in row else "-" for s in shown]
        extra = [f"{baseline[target]:.1f}"] if baseline and target in baseline else ([""] if baseline else [])
        lines.append(f"| {target} | {summary['metric'][target]} | " + " | ".join(cells + extra) + " |")
    overall = [f"**{summary['overall'][s]['mean']:.1f}**" for s in shown]
    base_mean = [f"{statistics.fmean(baseline.values()):.1f}"] if baseline else []
    lines.append("| **mean over targets** | | " + " | ".join(overall + base_mean) + " |")
    out = ["\n".join(lines), ""]
    out.append("Selection overlap (mean Jaccard of the chosen task sets, per target and seed):\n")
    out.append("| selectors | overlap |\n| --- | --- |")
    out += [f"| {pair} | {value:.2f} |" for pair, value in summary["overlap"].items()]
    setup = summary.get("setup_seconds", {})
    out.append("\nSelection cost in seconds: one-off set-up (encoder, index, model), mean per selection, and")
    out.append("the total (set-up + all selections of this run; uncertainty's pool scoring falls in the selections):\n")
    out.append("| selector | set-up | per selection | total |\n| --- | --- | --- | --- |")
    for s in shown:
        if s in summary["cost_seconds"]:
            cost = summary["cost_seconds"][s]
            out.append(
                f"| {s} | {setup.get(s, 0.0):.1f} | {cost['mean']:.3f} | {setup.get(s, 0.0) + cost['total']:.1f} |"
            )
    return "\n".join(out) + "\n"


def bar_chart(summary: dict[str, Any], selectors: list[str], path: Path, title: str) -> Path:
    """Grouped horizontal bars: one group per target plus the mean, one bar per selector, seed spread as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [s for s in selectors if s in summary["overall"]]
    groups = ["mean", *summary["targets"]]
    height = 0.8 / max(len(shown), 1)
    fig, ax = plt.subplots(figsize=(8.0, 1.6 + 0.16 * len(groups) * max(len(shown), 2)))
    for i, selector in enumerate(shown):
        means, errs = [], []
        for group in groups:
            cell = summary["overall"][selector] if group == "mean" else summary["table"][group].get(selector)
            means.append(cell["mean"] if cell else 0.0)
            errs.append(cell["std"] if cell else 0.0)
        ys = [g + (i - (len(shown) - 1) / 2) * height for g in range(len(groups))]
        ax.barh(ys, means, height, xerr=errs, capsize=2, label=selector)
    ax.set_yticks(range(len(groups)))
    labels = [g.split(":", 1)[-1] for g in groups]
    labels[0] = "MEAN over targets"
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("target score, percent (mean over seeds; bars: spread over seeds)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
