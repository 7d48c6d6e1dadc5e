"""The matrix as a picture: sources (rows) x targets (columns), each grouped by kind, one panel per view."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from instr_select.transfer.matrix import TransferMatrix


def grouped_order(keys: list[str], matrix: TransferMatrix) -> list[int]:
    """Positions of ``keys`` sorted by kind, then by key (stable, so the picture is reproducible)."""
    return sorted(range(len(keys)), key=lambda i: (matrix.kind(keys[i]), keys[i]))


def short_name(key: str, limit: int = 34) -> str:
    """``niv2:task363_sst2_polarity_classification`` -> ``sst2_polarity_classification`` (cut to ``limit``)."""
    name = key.partition(":")[2]
    if name.startswith("task") and "_" in name:
        name = name.split("_", 1)[1]
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _bounds(kinds: list[str]) -> list[int]:
    return [i for i in range(1, len(kinds)) if kinds[i] != kinds[i - 1]]


def colour_scale(values: np.ndarray) -> tuple[float, float, list[float]]:
    """(limit, linear width, colour-bar ticks) of an asinh colour scale for ``values``: symmetric up
    to the largest change, so no cell is clipped, and linear up to the median change, so small
    changes keep their colour beside targets whose NLL moves ten times as much."""
    finite = np.abs(values[np.isfinite(values)])
    moved = finite[finite > 0]
    limit = float(moved.max()) if moved.size else 1.0
    linear = float(np.median(moved)) if moved.size else 1.0
    steps = [v for v in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if linear / 2 <= v <= limit]
    return limit, linear, [*(-v for v in steps[::-1]), 0.0, *steps]


def heatmap(matrix: TransferMatrix, path: str | Path) -> Path:
    """Write the PNG: NLL transfer (nats per token) and accuracy change (points), red hurts, blue helps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import AsinhNorm

    rows = grouped_order(matrix.sources, matrix)
    cols = grouped_order(matrix.targets, matrix)
    views = [("nll", "gold-answer NLL: untuned - tuned (nats/token)", 1.0)]
    if matrix.targets_with_options():
        views.append(("accuracy", "accuracy: tuned - untuned (points)", 100.0))
    height = 2.6 + 0.22 * len(rows)
    width = max(9.0, 3.6 + 0.24 * len(cols) * len(views) + 1.2 * len(views))
    fig, axes = plt.subplots(1, len(views), figsize=(width, height), squeeze=False, dpi=100, layout="constrained")
    source_kinds = [matrix.kind(matrix.sources[i]) for i in rows]
    target_kinds = [matrix.kind(matrix.targets[j]) for j in cols]
    for ax, (view, title, scale) in zip(axes[0], views, strict=True):
        values = matrix.transfer(view)[np.ix_(rows, cols)] * scale
        limit, linear, ticks = colour_scale(values)
        norm = AsinhNorm(linear_width=linear, vmin=-limit, vmax=limit)
        cmap = plt.get_cmap("RdBu").with_extremes(bad="#dddddd")
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(cols)), [short_name(matrix.targets[j], 28) for j in cols], rotation=90, fontsize=7)
        ax.set_yticks(
            range(len(rows)),
            [f"{short_name(matrix.sources[i])} [{source_kinds[n]}]" for n, i in enumerate(rows)],
            fontsize=7,
        )
        for b in _bounds(source_kinds):
            ax.axhline(b - 0.5, color="black", linewidth=0.8)
        for b in _bounds(target_kinds):
            ax.axvline(b - 0.5, color="black", linewidth=0.8)
        top = ax.secondary_xaxis("top")
        starts = [0, *_bounds(target_kinds)]
        ends = [*_bounds(target_kinds), len(cols)]
        top.set_xticks([(a + b - 1) / 2 for a, b in zip(starts, ends, strict=True)], [target_kinds[a] for a in starts])
        top.tick_params(labelsize=7, rotation=90, length=0)
        bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, ticks=ticks)
        bar.ax.set_yticklabels([f"{t:g}" for t in bar.get_ticks()])
        bar.ax.tick_params(labelsize=7)
    model = matrix.manifest.get("model", "")
    seeds = len(matrix.seeds)
    fig.suptitle(
        f"Training {model} on one source task (row): change on each target (column), mean over up to {seeds} "
        "seed(s)\nblue helps, red hurts (asinh colour scale: linear up to the median change, logarithmic beyond); "
        "grey: the target has no answer options",
        fontsize=9,
    )
    fig.savefig(path, format="png")
    plt.close(fig)
    return Path(path)
