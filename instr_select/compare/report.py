"""The comparison report: tables (score and gold-answer NLL), paired tests against random, selection
overlap and cost, a chart per metric, a summary chart, a JSON."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from instr_select.atomic import atomic_file
from instr_select.compare.stats import REFERENCE, paired_summary

METRIC_LABELS = {
    "mc_accuracy": "multiple-choice accuracy, %",
    "rougeL": "ROUGE-L, %",
    "gold_nll": "gold-answer NLL (nats/token, lower is better)",
}


def _mean_std(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarize(cells: list[dict[str, Any]], selectors: list[str]) -> dict[str, Any]:
    """Mean and spread over seeds per (target, selector) for score and gold NLL; overlap, cost, paired tests."""
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    nlls: dict[tuple[str, str], list[float]] = defaultdict(list)
    picks: dict[tuple[str, str], list[set[str]]] = defaultdict(list)
    cost: dict[str, list[float]] = defaultdict(list)
    metric: dict[str, str] = {}
    for cell in cells:
        scores[cell["target"], cell["selector"]].append(cell["score"])
        if cell.get("gold_nll") is not None:
            nlls[cell["target"], cell["selector"]].append(cell["gold_nll"])
        picks[cell["target"], cell["selector"]].append(set(cell["selection"]))
        cost[cell["selector"]].append(cell["selection_seconds"])
        metric[cell["target"]] = cell["metric"]
    targets = sorted({c["target"] for c in cells})
    table = {t: {s: _mean_std(scores[t, s]) for s in selectors if scores[t, s]} for t in targets}
    nll_table = {t: {s: _mean_std(nlls[t, s]) for s in selectors if nlls[t, s]} for t in targets}
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
            nll = [statistics.fmean(nlls[t, s]) for t in targets if nlls[t, s]]
            overall[s] = {"mean": statistics.fmean(per_target), "std": spread,
                          "gold_nll": statistics.fmean(nll) if nll else float("nan")}  # fmt: skip
    overlap: dict[str, float] = {}
    for a, b in itertools.combinations(selectors, 2):
        values = [
            len(x & y) / len(x | y) for t in targets for x, y in zip(picks[t, a], picks[t, b], strict=False) if x | y
        ]
        if values:
            overlap[f"{a}~{b}"] = statistics.fmean(values)
    costs = {s: {"mean": statistics.fmean(v), "total": sum(v)} for s, v in cost.items()}
    seeds = sorted({c["seed"] for c in cells})
    trainings = {(c["seed"], c["selector"], tuple(sorted(c["selection"]))): c.get("train_seconds", 0.0) for c in cells}
    timing = [c.get("report", {}).get("timing", {}) for c in cells]
    compute = {
        "trainings": len(trainings),
        "training": sum(trainings.values()),
        "evaluation": sum(v for t in timing for k, v in t.items() if k.endswith("_seconds") and v),
        "selection": sum(sum(v) for v in cost.values()),
    }
    return {
        "targets": targets,
        "seeds": seeds,
        "metric": metric,
        "table": table,
        "gold_nll": nll_table,
        "overall": overall,
        "paired": paired_summary(cells, selectors),
        "overlap": overlap,
        "cost_seconds": costs,
        "compute_seconds": compute,
    }


def _fmt(cell: dict[str, float] | None, digits: int = 1) -> str:
    if not cell or math.isnan(cell["mean"]):
        return "-"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def _table(
    summary: dict[str, Any], shown: list[str], key: str, baseline: dict[str, dict[str, Any]] | None
) -> list[str]:
    base_key = "score" if key == "table" else "gold_nll"
    digits = 1 if key == "table" else 3
    head = "| target | metric | " if key == "table" else "| target | "
    lines = [head + " | ".join(shown) + (" | no tuning |" if baseline else " |")]
    lines.append("|" + " --- |" * (len(shown) + (2 if key == "table" else 1) + bool(baseline)))
    for target in summary["targets"]:
        row = summary[key][target]
        cells = [_fmt(row.get(s), digits) for s in shown]
        base = baseline.get(target, {}).get(base_key) if baseline else None
        extra = [f"{base:.{digits}f}" if base is not None else "-"] if baseline else []
        first = f"| {target} | {summary['metric'][target]} | " if key == "table" else f"| {target} | "
        lines.append(first + " | ".join(cells + extra) + " |")
    if key == "table":
        overall = [f"**{summary['overall'][s]['mean']:.1f}**" for s in shown]
        base_values = [b["score"] for t, b in (baseline or {}).items() if t in summary["targets"]]
        base_mean = [f"{statistics.fmean(base_values):.1f}"] if baseline and base_values else []
        lines.append("| **mean over targets** | | " + " | ".join(overall + base_mean) + " |")
    else:
        overall = [f"**{summary['overall'][s]['gold_nll']:.3f}**" for s in shown]
        base_values = [b["gold_nll"] for t, b in (baseline or {}).items() if t in summary["targets"]]
        base_mean = [f"{statistics.fmean(base_values):.3f}"] if baseline and base_values else []
        lines.append("| **mean over targets** | " + " | ".join(overall + base_mean) + " |")
    return lines


def paired_markdown(summary: dict[str, Any]) -> list[str]:
    paired = summary.get("paired") or {}
    if not paired:
        return []
    out = [f"\nPaired difference against `{REFERENCE}` (same target and seed; mean over targets of the mean over "
           "seeds, 95% bootstrap interval over targets; wins/losses = targets where the selector is better/worse; "
           "two-sided sign and Wilcoxon tests across targets):\n"]  # fmt: skip
    out.append("| selector | measure | difference | 95% CI | wins / losses / ties | sign p | Wilcoxon p |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for selector, measures in paired.items():
        for measure, r in measures.items():
            name = "score (points)" if measure == "score" else "gold NLL (lower better)"
            wins, losses = (r["wins"], r["losses"]) if measure == "score" else (r["losses"], r["wins"])
            digits = 1 if measure == "score" else 3
            low, high = r["ci95"]
            out.append(
                f"| {selector} | {name} | {r['mean']:+.{digits}f} | [{low:+.{digits}f}, {high:+.{digits}f}] | "
                f"{wins} / {losses} / {r['ties']} | {r['sign_p']:.2f} | {r['wilcoxon_p']:.2f} |"
            )
    return out


def markdown(summary: dict[str, Any], selectors: list[str], baseline: dict[str, dict[str, Any]] | None = None) -> str:
    shown = [s for s in selectors if s in summary["overall"]]
    out = ["Target score in percent (mean ± std over seeds):\n", "\n".join(_table(summary, shown, "table", baseline))]
    out.append("\nGold-answer NLL, nats per token (mean ± std over seeds; lower is better):\n")
    out.append("\n".join(_table(summary, shown, "gold_nll", baseline)))
    out += paired_markdown(summary)
    out.append("\nSelection overlap (mean Jaccard of the chosen task sets, per target and seed):\n")
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
    compute = summary.get("compute_seconds")
    if compute:
        total = compute["training"] + compute["evaluation"] + compute["selection"] + sum(setup.values())
        out.append(
            f"\nCompute recorded in the cells: {compute['trainings']} trainings {compute['training'] / 60:.1f} min,"
            f" evaluations {compute['evaluation'] / 60:.1f} min, selections {compute['selection'] / 60:.1f} min,"
            f" set-up {sum(setup.values()) / 60:.1f} min: {total / 60:.1f} min in all (model loading between"
            " cells and the untuned baseline not counted; times of a shared machine are longer than an idle one's)."
        )
    return "\n".join(out) + "\n"


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short_target(key: str, width: int = 30) -> str:
    """``niv2:task363_sst2_polarity_classification`` -> ``sst2_polarity_classification``."""
    name = re.sub(r"^task\d+_", "", key.split(":", 1)[-1])
    return name if len(name) <= width else name[: width - 1] + "…"


def bar_chart(
    summary: dict[str, Any],
    selectors: list[str],
    path: Path,
    title: str,
    baseline: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """One panel per metric (each target's own metric, then gold NLL); bars per selector with the seed
    spread clipped to the metric's range; the untuned model as a black tick; the legend on top."""
    plt = _pyplot()
    shown = [s for s in selectors if s in summary["overall"]]
    by_metric: dict[str, list[str]] = defaultdict(list)
    for target in summary["targets"]:
        by_metric[summary["metric"][target]].append(target)
    panels = [(m, ts, "table") for m, ts in sorted(by_metric.items())] + [("gold_nll", summary["targets"], "gold_nll")]
    rows = [len(ts) for _, ts, _ in panels]
    fig_height = 1.0 + sum(0.11 * n * max(len(shown), 2) + 0.6 for n in rows)
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.0, fig_height), gridspec_kw={"height_ratios": rows})
    axes = list(axes) if len(panels) > 1 else [axes]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    height = 0.8 / max(len(shown), 1)
    for ax, (metric, targets, key) in zip(axes, panels, strict=True):
        upper = 100.0 if key == "table" else None
        for i, selector in enumerate(shown):
            means, low, high = [], [], []
            for target in targets:
                cell = summary[key][target].get(selector)
                mean, std = (cell["mean"], cell["std"]) if cell else (float("nan"), 0.0)
                lo, hi = max(mean - std, 0.0), mean + std if upper is None else min(mean + std, upper)
                means.append(mean)
                low.append(mean - lo)
                high.append(hi - mean)
            ys = [g + (i - (len(shown) - 1) / 2) * height for g in range(len(targets))]
            ax.barh(ys, means, height, xerr=[low, high], capsize=2, color=colours[i % len(colours)], label=selector)
        if baseline:
            base_key = "score" if key == "table" else "gold_nll"
            for g, target in enumerate(targets):
                value = baseline.get(target, {}).get(base_key)
                if value is not None:
                    ax.plot([value, value], [g - 0.45, g + 0.45], color="black", lw=2,
                            label="no tuning" if g == 0 else None)  # fmt: skip
        ax.set_yticks(range(len(targets)))
        ax.set_yticklabels([_short_target(t) for t in targets], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(METRIC_LABELS.get(metric, metric), fontsize=9)
        if upper is not None:
            ax.set_xlim(0, upper)
        else:
            ax.set_xlim(left=0)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(title, fontsize=10, y=1.0 - 0.05 / fig_height)
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.0 - 0.3 / fig_height))  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 1.0 - 0.55 / fig_height))
    return _save(fig, path)


def summary_chart(summary: dict[str, Any], path: Path, title: str) -> Path | None:
    """Mean paired difference against random with its 95% bootstrap interval: score and gold NLL panels."""
    paired = summary.get("paired") or {}
    if not paired:
        return None
    plt = _pyplot()
    selectors = [name for name, measures in paired.items() if measures]
    if not selectors:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 1.8 + 0.4 * len(selectors)))
    for ax, measure, label in (
        (axes[0], "score", "score difference vs random, points\n(right = better)"),
        (axes[1], "gold_nll", "gold NLL difference vs random\n(left = better)"),
    ):
        for y, selector in enumerate(selectors):
            r = paired[selector].get(measure)
            if not r:
                continue
            low, high = r["ci95"]
            ok = not (math.isnan(low) or math.isnan(high))
            ax.errorbar(r["mean"], y, xerr=[[r["mean"] - low], [high - r["mean"]]] if ok else None, fmt="o",
                        color="#1f77b4", capsize=3)  # fmt: skip
            digits = 1 if measure == "score" else 3
            ax.annotate(f"{r['mean']:+.{digits}f}", (r["mean"], y), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=8)  # fmt: skip
        ax.axvline(0.0, color="grey", lw=1)
        ax.set_yticks(range(len(selectors)))
        ax.set_yticklabels(selectors if measure == "score" else [], fontsize=9)
        ax.set_ylim(-0.6, len(selectors) - 0.4)
        ax.invert_yaxis()
        ax.set_xlabel(label, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
