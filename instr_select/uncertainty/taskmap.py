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


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def plot_taskmap(
    scores: Sequence[TaskScore],
    limits: Thresholds,
    path: str | Path,
    labels: int = 0,
    title: str = "Task map",
) -> Path:
    """Scatter PU against PP coloured by region; label up to ``labels`` tasks (most ambiguous first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    for name in REGIONS:
        members = [s for s in scores if region(s, limits) == name]
        if members:
            ax.scatter(
                [s.pu for s in members],
                [s.pp for s in members],
                s=28,
                alpha=0.8,
                color=COLOURS[name],
                edgecolors="white",
                linewidths=0.5,
                label=f"{name} ({len(members)})",
            )
    ax.axvline(limits.pu, color="grey", linestyle="--", linewidth=0.8)
    pu_max = max([s.pu for s in scores], default=limits.pu)
    ax.hlines(limits.pp, min([s.pu for s in scores], default=0.0), limits.pu, color="grey", linestyles=":", lw=0.8)
    for s in sorted(scores, key=lambda s: -s.pu)[: max(labels, 0)]:
        ax.annotate(_short(s.task_id), (s.pu, s.pp), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("prompt uncertainty (PU)")
    ax.set_ylabel("prediction probability (PP)")
    ax.set_title(f"{title}: {len(scores)} tasks")
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]), right=max(pu_max * 1.08, ax.get_xlim()[1]))
    ax.grid(alpha=0.25)
    ax.legend(loc="best", fontsize=8, frameon=True)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
