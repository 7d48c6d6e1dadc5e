"""Comparable scores across meta-datasets: a query's task scores standardised within each meta-dataset.

Meta-datasets write instructions in different styles, and an encoder scores them on different
scales: a short NIV2 catalog summary lands near almost any natural-language query, while a P3
template full of placeholders lands far from it, so P3 tasks of the right kind sink below NIV2
tasks of the wrong one. Normalising compares each task with the other tasks *of its own
meta-dataset* for the same query:

- ``centre``: the task's score minus the mean score of its meta-dataset's tasks;
- ``z``: that, divided by the standard deviation of its meta-dataset's task scores (a meta-dataset
  of one task, or of equal scores, gets 0).

The statistics run over every task of the index, whatever a query filters out, so a filter never
changes the scores of the tasks it keeps. An index of one meta-dataset ranks as without it.

A ``Retriever`` option, not a default and not on the command line: on the default index it lowers
P3 in the whole index and BBH in the whole index on their dev and test parts, and its gain on the
transfer matrix's dev targets turns into a loss on the test targets
(``scripts/sweep_score_normalisation.py``; docs/retrieval.md#comparable-scores-across-meta-datasets).
"""

from __future__ import annotations

import numpy as np

from instr_select.errors import ConfigError

NORMALISATIONS = ("none", "centre", "z")


def check_normalise(name: object) -> str:
    """One of :data:`NORMALISATIONS`."""
    if name not in NORMALISATIONS:
        raise ConfigError(f"unknown normalise {name!r} (choose one of: {', '.join(NORMALISATIONS)})")
    return str(name)


def group_codes(labels: np.ndarray) -> np.ndarray:
    """Each task's meta-dataset as an integer code (0..groups-1), in order of the sorted names."""
    _, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    return codes.astype(np.int64)


def normalised(scores: np.ndarray, groups: np.ndarray, how: str) -> np.ndarray:
    """``scores`` (one per task) standardised within each group of ``groups`` (integer codes)."""
    scores = np.asarray(scores, dtype=np.float64)
    if how == "none":
        return scores
    sizes = np.bincount(groups)
    means = np.bincount(groups, weights=scores) / np.maximum(sizes, 1)
    out = scores - means[groups]
    if how == "z":
        spread = np.sqrt(np.bincount(groups, weights=out * out) / np.maximum(sizes, 1))
        safe = np.where(spread > 0, spread, 1.0)
        out = np.where(spread[groups] > 0, out / safe[groups], 0.0)
    return out
