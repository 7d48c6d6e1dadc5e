"""A transfer matrix: how much training on each source task changes each target, read back checked.

A matrix directory holds
- ``transfer.npz``: ``nll`` and ``accuracy`` (sources x targets x seeds; NaN where a seed was not
  run, accuracy NaN where the target has no answer options), ``untuned_nll`` and
  ``untuned_accuracy`` (one value per target: the base model before any tuning);
- ``transfer.csv``: the same numbers, one row per (source, target, seed), for people and pandas;
- ``manifest.json``: sources, targets, their kinds, seeds, the model and its hash, the budget, the
  example ids of every target, library versions, the command, and the sha256 of ``transfer.npz``;
- ``heatmap.png``: sources x targets grouped by kind.

Transfer(s -> t) is untuned NLL - tuned NLL on the target's gold answers (positive helps), and
tuned - untuned multiple-choice accuracy (rank classification by option likelihood).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.errors import DataError

MATRIX_KIND = "instr-select transfer matrix"
MATRIX_FORMAT = 1
ARRAYS_FILE = "transfer.npz"
CSV_FILE = "transfer.csv"
MANIFEST_FILE = "manifest.json"
HEATMAP_FILE = "heatmap.png"
VIEWS = ("nll", "accuracy")


@dataclass
class TransferMatrix:
    """Measured transfer of ``sources`` to ``targets`` (task keys ``META_DATASET:TASK_ID``)."""

    sources: list[str]
    targets: list[str]
    seeds: list[int]
    nll: np.ndarray  # (S, T, K) the tuned model's mean gold-answer NLL per token
    accuracy: np.ndarray  # (S, T, K) the tuned model's multiple-choice accuracy in [0, 1]
    untuned_nll: np.ndarray  # (T,)
    untuned_accuracy: np.ndarray  # (T,)
    kinds: dict[str, str] = field(default_factory=dict)  # task key -> kind (sentiment, QA, ...)
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.sources), len(self.targets), len(self.seeds))
        for name in ("nll", "accuracy"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        for name in ("untuned_nll", "untuned_accuracy"):
            if getattr(self, name).shape != (len(self.targets),):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected ({len(self.targets)},)")

    def transfer(self, view: str = "nll") -> np.ndarray:
        """(S, T) transfer averaged over the seeds that ran; positive helps.

        ``nll``: untuned - tuned gold NLL; ``accuracy``: tuned - untuned accuracy (NaN columns for
        targets without answer options).
        """
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r} (choose from: {', '.join(VIEWS)})")
        with np.errstate(invalid="ignore"), _quiet_nanmean():
            if view == "nll":
                return self.untuned_nll[None, :] - np.nanmean(self.nll, axis=2)
            return np.nanmean(self.accuracy, axis=2) - self.untuned_accuracy[None, :]

    def seed_transfer(self, view: str = "nll") -> np.ndarray:
        """(S, T, K) transfer of each seed on its own (NaN where that seed was not run)."""
        if view == "nll":
            return self.untuned_nll[None, :, None] - self.nll
        return self.accuracy - self.untuned_accuracy[None, :, None]

    def targets_with_options(self) -> list[int]:
        return [j for j in range(len(self.targets)) if not np.isnan(self.untuned_accuracy[j])]

    def kind(self, key: str) -> str:
        return self.kinds.get(key) or key.partition(":")[0]

    @classmethod
    def load(cls, path: str | Path) -> TransferMatrix:
        """Read a merged matrix directory, checking it is what its manifest says."""
        from instr_select.hashing import file_sha256

        path = Path(path)
        manifest_file = path / MANIFEST_FILE
        if not manifest_file.is_file():
            raise DataError(
                path, "is not a transfer matrix (no manifest.json)", "run `instr-select transfer run` first"
            )
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(manifest_file, f"cannot be read ({exc})", "re-run `instr-select transfer merge`") from None
        if not isinstance(manifest, dict) or manifest.get("kind") != MATRIX_KIND:
            raise DataError(manifest_file, "is not a transfer matrix manifest", "point --matrix at a matrix directory")
        if manifest.get("format") != MATRIX_FORMAT:
            raise DataError(
                manifest_file,
                f"matrix format {manifest.get('format')!r} is not {MATRIX_FORMAT}",
                "re-run `instr-select transfer merge` with this version",
            )
        arrays_file = path / ARRAYS_FILE
        if not arrays_file.is_file():
            raise DataError(arrays_file, "is missing", "re-run `instr-select transfer merge`")
        if file_sha256(arrays_file) != manifest.get("arrays_sha256"):
            raise DataError(arrays_file, "does not match the sha256 in manifest.json", "re-run `transfer merge`")
        for key in ("sources", "targets", "seeds"):
            value = manifest.get(key)
            if not isinstance(value, list) or not value:
                raise DataError(manifest_file, f"field {key!r} must be a non-empty list", "re-run `transfer merge`")
        with np.load(arrays_file, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name], dtype=np.float64) for name in _ARRAY_NAMES}
        try:
            return cls(
                sources=[str(s) for s in manifest["sources"]],
                targets=[str(t) for t in manifest["targets"]],
                seeds=[int(s) for s in manifest["seeds"]],
                kinds={str(k): str(v) for k, v in (manifest.get("kinds") or {}).items()},
                manifest=manifest,
                **arrays,
            )
        except ValueError as exc:
            raise DataError(arrays_file, f"disagrees with manifest.json ({exc})", "re-run `transfer merge`") from None

    def save(self, out: Path) -> None:
        """Write ``transfer.npz``, ``transfer.csv`` and ``manifest.json`` into ``out`` (a staging folder)."""
        from instr_select.hashing import file_sha256

        np.savez(out / ARRAYS_FILE, **{name: getattr(self, name) for name in _ARRAY_NAMES})
        (out / CSV_FILE).write_text(self.csv(), encoding="utf-8")
        manifest = {
            **self.manifest,
            "kind": MATRIX_KIND,
            "format": MATRIX_FORMAT,
            "sources": self.sources,
            "targets": self.targets,
            "seeds": self.seeds,
            "kinds": self.kinds,
            "arrays_sha256": file_sha256(out / ARRAYS_FILE),
        }
        (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        self.manifest = manifest

    def csv(self) -> str:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            ["source", "target", "seed", "untuned_nll", "tuned_nll", "nll_transfer", "untuned_accuracy"]
            + ["tuned_accuracy", "accuracy_change"]
        )
        for i, source in enumerate(self.sources):
            for j, target in enumerate(self.targets):
                for k, seed in enumerate(self.seeds):
                    if np.isnan(self.nll[i, j, k]):
                        continue
                    acc, base_acc = self.accuracy[i, j, k], self.untuned_accuracy[j]
                    writer.writerow(
                        [source, target, seed, _num(self.untuned_nll[j]), _num(self.nll[i, j, k])]
                        + [_num(self.untuned_nll[j] - self.nll[i, j, k]), _num(base_acc), _num(acc)]
                        + [_num(acc - base_acc)]
                    )
        return buffer.getvalue()


_ARRAY_NAMES = ("nll", "accuracy", "untuned_nll", "untuned_accuracy")


def _num(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6g}"


class _quiet_nanmean:
    """nanmean of an all-NaN slice is NaN, as wanted: silence its RuntimeWarning."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


def reliability(matrix: TransferMatrix, view: str = "nll") -> dict[str, Any]:
    """Split-half reliability: Spearman of the first two seeds' transfer, overall and within each target.

    Only sources run with both seeds count. ``within_target`` is each target's Spearman over those
    sources (None where fewer than three sources or a constant column).
    """
    from scipy.stats import spearmanr

    if len(matrix.seeds) < 2:
        return {"view": view, "sources": 0, "overall": None, "within_target": {}}
    per_seed = matrix.seed_transfer(view)
    a, b = per_seed[:, :, 0], per_seed[:, :, 1]
    rows = [i for i in range(len(matrix.sources)) if not np.isnan(b[i]).all() and not np.isnan(a[i]).all()]
    columns = [j for j in range(len(matrix.targets)) if not np.isnan(a[rows, j]).all()] if rows else []
    if len(rows) < 2 or not columns:
        return {"view": view, "sources": len(rows), "overall": None, "within_target": {}}
    x, y = a[np.ix_(rows, columns)], b[np.ix_(rows, columns)]
    overall = float(spearmanr(x.ravel(), y.ravel()).statistic)
    within: dict[str, float | None] = {}
    for col, j in enumerate(columns):
        if len(rows) < 3 or np.ptp(x[:, col]) == 0 or np.ptp(y[:, col]) == 0:
            within[matrix.targets[j]] = None
        else:
            within[matrix.targets[j]] = float(spearmanr(x[:, col], y[:, col]).statistic)
    values = [v for v in within.values() if v is not None]
    return {
        "view": view,
        "sources": len(rows),
        "pairs": int(x.size),
        "overall": overall,
        "within_target": within,
        "within_target_median": float(np.median(values)) if values else None,
        "within_target_mean": float(np.mean(values)) if values else None,
    }
