"""Answer fit: re-rank retrieved tasks by how well their answer length fits the query's.

At the scale instr-select tunes, what a source task teaches first is the form of its answers: in
the default transfer matrix a source's median answer length alone ranks its mean transfer to the
dev targets with Spearman 0.69 (docs/retrieval.md). A query is an instruction without examples,
so its answer length is *predicted* from what it retrieved first (pseudo-relevance feedback): the
median log answer length of its ``FIT_NEIGHBOURS`` best hits with a known answer length. Each of
the ``FIT_DEPTH`` first-stage candidates then scores

    z(retrieval score) + weight * z(-|log(1 + words) - predicted|)

(z: standardised over the candidates; a task without examples gets the candidates' mean fit),
reported on the retrieval score's scale (times its spread, plus its mean). The
answer lengths are those of the index's task table (``answer_words``, from the examples at build
time); an index built before they were recorded cannot re-rank and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from instr_select.errors import ConfigError
from instr_select.retrieval.aggregate import RankedTask

FIT_DEPTH = 50  # first-stage candidates re-ranked (all of them when the index holds fewer)
FIT_NEIGHBOURS = 5  # best hits whose answer lengths predict the query's


def check_answer_fit(weight: object) -> float:
    """A finite weight >= 0 (0: no re-ranking)."""
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"answer fit weight must be a number >= 0 (0 turns it off), got {weight!r}")
    return float(weight)


def predicted_length(words: Sequence[float | None], neighbours: int = FIT_NEIGHBOURS) -> float | None:
    """The median log(1 + words) of the first ``neighbours`` known lengths of ``words`` (ranked order)."""
    known = [math.log1p(w) for w in words if w is not None][:neighbours]
    return float(np.median(known)) if known else None


def _standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def rerank(
    ranked: list[RankedTask],
    answer_words: Sequence[float | None],
    weight: float,
    neighbours: int = FIT_NEIGHBOURS,
) -> list[RankedTask]:
    """``ranked`` (best first) re-ordered by score plus ``weight`` x answer fit; scores become the fused ones
    (the retrieval score plus ``weight`` x its spread x the standardised fit).

    ``answer_words``: every index task's median answer length in words (None: unknown), by task row.
    """
    if weight == 0 or len(ranked) < 2:
        return ranked
    words = [answer_words[item.task] for item in ranked]
    predicted = predicted_length(words, neighbours)
    if predicted is None:
        return ranked
    fit = np.array([np.nan if w is None else -abs(math.log1p(w) - predicted) for w in words])
    fit[np.isnan(fit)] = np.nanmean(fit)
    score = np.array([item.score for item in ranked], dtype=np.float64)
    # = mean + std x (z(score) + weight x z(fit)): the order of the z-sum, on the retrieval score's scale
    fused = score + weight * score.std() * _standardised(fit)
    order = np.argsort(-fused, kind="stable")
    return [RankedTask(ranked[i].task, float(fused[i]), ranked[i].best_instruction) for i in order]
