"""The task map: prompt uncertainty (x) against prediction probability (y), by region.

Regions: ambiguous (PU above its threshold), easy (otherwise, PP above its threshold) and
difficult (otherwise). Default thresholds: the median PU of all tasks, then the median PP of
the tasks that are not ambiguous.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.atomic import atomic_file
from instr_select.atomic import write_json as atomic_json
from instr_select.uncertainty.scoring import TaskScore

REGIONS: tuple[str, ...] = ("ambiguous", "easy", "difficult")
COLOURS = {"ambiguous": "#d62728", "easy": "#2ca02c", "difficult": "#1f77b4"}
FIELDS = ("key", "task_id", "meta_dataset", "pu", "pp", "perplexity", "region", "n_used", "k")


@dataclass
class Thresholds:
    pu: float
    pp: float


def thresholds(scores: Sequence[TaskScore], pu: float | None = None, pp: float | None = None) -> Thresholds:
    """Given thresholds, or the defaults: PU median, then PP median of the non-ambiguous tasks."""
    if not scores:
        return Thresholds(pu if pu is not None else 0.0, pp if pp is not None else 0.0)
    pu_t = float(np.median([s.pu for s in scores])) if pu is None else pu
    if pp is None:
        rest = [s.pp for s in scores if s.pu <= pu_t] or [s.pp for s in scores]
        pp = float(np.median(rest))
    return Thresholds(pu_t, pp)


def region(score: TaskScore, limits: Thresholds) -> str:
    if score.pu > limits.pu:
        return "ambiguous"
    return "easy" if score.pp > limits.pp else "difficult"


def rows(scores: Sequence[TaskScore], limits: Thresholds) -> list[dict[str, Any]]:
    return [{**{f: getattr(s, f) for f in FIELDS if f != "region"}, "region": region(s, limits)} for s in scores]


def write_csv(scores: Sequence[TaskScore], limits: Thresholds, path: str | Path) -> Path:
    with atomic_file(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(FIELDS))
        writer.writeheader()
        writer.writerows(rows(scores, limits))
    return Path(path)


def write_json(scores: Sequence[TaskScore], limits: Thresholds, path: str | Path, info: dict[str, Any]) -> Path:
    table = rows(scores, limits)
    counts = {r: sum(1 for row in table if row["region"] == r) for r in REGIONS}
    payload = {"thresholds": {"pu": limits.pu, "pp": limits.pp}, "counts": counts, "tasks": table, **info}
    return atomic_json(path, payload)


def _short(label: str, width: int = 26) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def robust_limit(values: Sequence[float], threshold: float) -> float:
    """The x-axis end: 1.5 IQR above the upper quartile (never below the threshold); points beyond are outliers."""
    if not values:
        return max(threshold, 1e-9) * 1.1
    q1, q3 = np.percentile(values, [25, 75])
    return float(max(q3 + 1.5 * (q3 - q1), threshold * 1.15, min(values) + 1e-9, 1e-9)) * 1.05


def plot_taskmap(
    scores: Sequence[TaskScore],
    limits: Thresholds,
    path: str | Path,
    labels: int = 0,
    title: str = "Task map",
) -> Path:
    """Scatter PU against PP coloured by region, the thresholds drawn and named, the PU axis cut at a
    robust range with outliers shown as triangles on its edge (their PU written beside them); label up
    to ``labels`` tasks (most ambiguous first), spread vertically so labels do not overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pus = [s.pu for s in scores]
    x_max = robust_limit(pus, limits.pu)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    for name in REGIONS:
        members = [s for s in scores if region(s, limits) == name]
        inside = [s for s in members if s.pu <= x_max]
        outside = [s for s in members if s.pu > x_max]
        ax.scatter([s.pu for s in inside], [s.pp for s in inside], s=28, alpha=0.8, color=COLOURS[name],
                   edgecolors="white", linewidths=0.5, label=f"{name} ({len(members)})")  # fmt: skip
        if outside:
            ax.scatter([x_max * 0.985] * len(outside), [s.pp for s in outside], marker=">", s=60, color=COLOURS[name],
                       edgecolors="black", linewidths=0.6, clip_on=False)  # fmt: skip
            for s in outside:
                ax.annotate(f"PU {s.pu:.3g}", (x_max * 0.985, s.pp), fontsize=7, xytext=(-6, 6),
                            textcoords="offset points", ha="right")  # fmt: skip
    ax.axvline(limits.pu, color="grey", linestyle="--", linewidth=0.9)
    ax.hlines(limits.pp, 0.0, limits.pu, color="grey", linestyles=":", lw=0.9)
    ax.annotate(f"PU threshold {limits.pu:.3g}", (limits.pu, 1.0), xycoords=("data", "axes fraction"),
                xytext=(4, -12), textcoords="offset points", fontsize=8, color="dimgrey")  # fmt: skip
    ax.annotate(f"PP threshold {limits.pp:.3g}", (0.0, limits.pp), xytext=(2, 4), textcoords="offset points",
                fontsize=8, color="dimgrey")  # fmt: skip
    picked = sorted(scores, key=lambda s: -s.pu)[: max(labels, 0)]
    y_low, y_high = min([s.pp for s in scores], default=0.0), max([s.pp for s in scores], default=1.0)
    gap = (y_high - y_low) * 0.045 or 0.01
    placed: list[float] = []
    for s in sorted(picked, key=lambda s: -s.pp):
        y = s.pp
        while any(abs(y - other) < gap for other in placed):
            y -= gap
        placed.append(y)
        x = min(s.pu, x_max * 0.985)
        right = x > 0.7 * x_max  # near the right edge: the label goes to the left of the point
        ax.annotate(_short(s.task_id), (x, s.pp), xytext=(x + (-0.03 if right else 0.02) * x_max, y), fontsize=7,
                    ha="right" if right else "left", arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5})  # fmt: skip
    for name, x, y, ha, va in (("ambiguous", 0.99 * x_max, y_low, "right", "bottom"),
                               ("easy", 0.01 * x_max, y_high, "left", "top"),
                               ("difficult", 0.01 * x_max, y_low, "left", "bottom")):  # fmt: skip
        ax.text(x, y, f"{name.upper()}", color=COLOURS[name], fontsize=9, ha=ha, va=va, alpha=0.7, weight="bold")
    ax.set_xlabel("prompt uncertainty (PU): change of the answer's likelihood under perturbed instructions")
    ax.set_ylabel("prediction probability (PP) of the model's own answer")
    ax.set_title(f"{title}: {len(scores)} tasks", fontsize=10)
    ax.set_xlim(0.0, x_max)
    ax.grid(alpha=0.25)
    handles, names = ax.get_legend_handles_labels()
    ax.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
