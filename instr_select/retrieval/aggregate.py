"""From instruction hits to task rankings: ``max``, ``mean``, ``top2`` and ``vote`` aggregation.

Hits are instruction ids sorted by descending score. A ranking computed from the top hits only
is exact when it provably cannot change with more hits; otherwise the caller asks for more.

- ``max``: a task scores its best instruction (tasks in order of first appearance).
- ``mean``: a task scores the mean over all its instructions (as in the InsTa paper).
- ``top2``: a task scores the mean of its 2 best instructions: ``mean`` for a task of
  one or two instructions, closer to ``max`` for a P3 dataset with many templates of which a few
  match.
- ``vote``: the top ``VOTE_DEPTH`` instructions vote for their task with linear rank weights
  (rank r gives ``(VOTE_DEPTH - r + 1) / VOTE_DEPTH``); tasks without votes follow by ``max``
  with score 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

AGGREGATES = ("max", "mean", "top2", "vote")
MEANS = ("mean", "top2")  # aggregates that score a task from all its instructions (not from the hits alone)
VOTE_DEPTH = 10


@dataclass
class RankedTask:
    task: int
    score: float
    best_instruction: int


def rank_tasks(
    hit_ids: np.ndarray,
    hit_scores: np.ndarray,
    instr_task: np.ndarray,
    allowed: np.ndarray,
    k: int,
    aggregate: str,
    mean_of: Callable[[np.ndarray], np.ndarray],
    complete: bool,
) -> tuple[list[RankedTask], bool]:
    """Rank allowed tasks from hits; returns (top ``k`` tasks, whether the ranking is final)."""
    valid = hit_ids >= 0
    hit_ids, hit_scores = hit_ids[valid], hit_scores[valid]
    floor = float(hit_scores[-1]) if len(hit_scores) else -np.inf
    tasks = instr_task[hit_ids]
    keep = allowed[tasks]
    ids, scores, tasks = hit_ids[keep], hit_scores[keep], tasks[keep]
    unique, first = np.unique(tasks, return_index=True)
    order = np.argsort(first, kind="stable")
    first_tasks, first = unique[order], first[order]
    if aggregate == "max":
        ranked = [
            RankedTask(int(t), float(scores[p]), int(ids[p])) for t, p in zip(first_tasks[:k], first[:k], strict=True)
        ]
        return ranked, complete or len(first_tasks) >= k
    if aggregate == "vote":
        votes: dict[int, float] = {}
        for rank, task in enumerate(tasks[:VOTE_DEPTH].tolist(), 1):
            votes[task] = votes.get(task, 0.0) + (VOTE_DEPTH - rank + 1) / VOTE_DEPTH
        position = {int(t): i for i, t in enumerate(first_tasks)}
        best = {int(t): int(ids[p]) for t, p in zip(first_tasks, first, strict=True)}
        voted = sorted(votes, key=lambda t: (-votes[t], position[t]))
        rest = [int(t) for t in first_tasks if int(t) not in votes]
        ranked = [RankedTask(t, votes[t], best[t]) for t in voted] + [RankedTask(t, 0.0, best[t]) for t in rest]
        done = complete or (len(ids) >= VOTE_DEPTH and len(first_tasks) >= k)
        return ranked[:k], done
    if aggregate in MEANS:
        means = mean_of(first_tasks) if len(first_tasks) else np.zeros(0, dtype=np.float32)
        by_mean = np.argsort(-means, kind="stable")
        ranked = [RankedTask(int(first_tasks[i]), float(means[i]), int(ids[first[i]])) for i in by_mean[:k]]
        # a task not among the hits has every instruction below `floor`, so its mean (of any m) is too
        done = complete or (len(ranked) >= k and ranked[-1].score >= floor)
        return ranked, done
    raise ValueError(f"unknown aggregate {aggregate!r}")


def reduce_scores(scores: np.ndarray, aggregate: str) -> float:
    """One task's score from all its instruction scores (``mean``, or ``top2``: the mean of its best two)."""
    return float(np.mean(np.sort(scores)[-2:] if aggregate == "top2" else scores))


def task_scores(scores: np.ndarray, starts: np.ndarray, counts: np.ndarray, aggregate: str) -> np.ndarray:
    """Every task's ``max``, ``mean`` or ``top2`` score at once (task t holds ``scores[starts[t]:starts[t] + counts[t]]``)."""
    scores = np.asarray(scores, dtype=np.float64)
    if aggregate == "max":
        return np.maximum.reduceat(scores, starts)
    if aggregate == "mean":
        return np.add.reduceat(scores, starts) / counts
    task = np.repeat(np.arange(len(starts)), counts)
    ordered = scores[np.lexsort((-scores, task))]  # each task's range, best first
    second = ordered[np.where(counts > 1, starts + 1, starts)]
    return (ordered[starts] + second) / 2
