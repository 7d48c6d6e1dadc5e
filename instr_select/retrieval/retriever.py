"""Rank the tasks of an index for an instruction: dense (FAISS), BM25, or their reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from instr_select.errors import ConfigError
from instr_select.retrieval.aggregate import AGGREGATES, MEANS, RankedTask, rank_tasks, reduce_scores, task_scores
from instr_select.retrieval.answer_fit import FIT_DEPTH, check_answer_fit, rerank
from instr_select.retrieval.normalise import check_normalise, group_codes, normalised
from instr_select.selection import SelectedTask

METHODS = ("dense", "bm25", "hybrid")
MAX_INSTRUCTION_CHARS = 100_000
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009)
HYBRID_DEPTH = 100  # tasks taken from each ranking before fusion


def check_instruction(text: object, where: str = "instruction") -> str:
    """The instruction, stripped; a ConfigError for empty, non-text or over-long input."""
    if not isinstance(text, str):
        raise ConfigError(f"{where} must be text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ConfigError(f"{where} is empty (give the target task's instruction)")
    if len(stripped) > MAX_INSTRUCTION_CHARS:
        raise ConfigError(
            f"{where} has {len(stripped):,} characters, above the limit of {MAX_INSTRUCTION_CHARS:,} (shorten it)"
        )
    from instr_select.textcheck import text_problem

    problem = text_problem(stripped)
    if problem:
        raise ConfigError(f"{where} {problem}")
    return stripped


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a whole number of at least 1, got {k!r}")
    return int(k)


@dataclass(frozen=True)
class GuardHit:
    """What the leakage guard removed for one query: it is an instruction of ``task``, so every task
    of its source dataset (``source_key``) is left out (``removed`` tasks of the index)."""

    task: str
    source_key: str
    removed: int

    def to_dict(self) -> dict[str, object]:
        return {"recognised_as": self.task, "excluded_sources": [self.source_key], "excluded_tasks": self.removed}


class Retriever:
    """Task retrieval over an :class:`~instr_select.index.InstructionIndex`.

    ``method``: dense | bm25 | hybrid; ``aggregate``: max | mean | top2 | vote (see ``aggregate.py``);
    ``answer_fit``: the weight of the answer-length re-ranking (see ``answer_fit.py``; 0: none);
    ``normalise``: none | centre | z, task scores made comparable across meta-datasets (see ``normalise.py``).
    """

    def __init__(
        self,
        index,
        method: str = "dense",
        aggregate: str = "max",
        answer_fit: float = 0.0,
        normalise: str = "none",
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown retriever {method!r} (choose one of: {', '.join(METHODS)})")
        if aggregate not in AGGREGATES:
            raise ConfigError(f"unknown aggregate {aggregate!r} (choose one of: {', '.join(AGGREGATES)})")
        self.normalise = check_normalise(normalise)
        if self.normalise != "none" and aggregate == "vote":
            raise ConfigError(
                "normalise needs a score per task, which vote does not give: use aggregate max, mean or top2"
            )
        self.index, self.method, self.aggregate = index, method, aggregate
        self.answer_fit = check_answer_fit(answer_fit)
        if self.answer_fit and not index.records_answer_lengths:
            raise ConfigError(
                "this index records no answer lengths (no task has examples or answer_choices, or it was built "
                "before they were recorded), so --answer-fit cannot re-rank it: pass --answer-fit 0 or rebuild it"
            )
        self._answer_words = [t.answer_words for t in index.tasks]
        self._starts = np.array([t.start for t in index.tasks], dtype=np.int64)
        self._counts = np.array([t.count for t in index.tasks], dtype=np.int64)
        self._groups = group_codes(index.task_meta)
        self._guard_hits: dict[str, GuardHit | None] = {}

    # --- public API ----------------------------------------------------------------------------
    def search(
        self,
        instruction: str,
        k: int = 10,
        meta_datasets: Sequence[str] | None = None,
        exclude_sources: Collection[str] = (),
        exclude_keys: Collection[str] = (),
        guard: bool = True,
        examples_only: bool = False,
    ) -> list[SelectedTask]:
        return self.search_many([instruction], k, meta_datasets, exclude_sources, exclude_keys, guard, examples_only)[0]

    def search_many(
        self,
        instructions: Sequence[str],
        k: int = 10,
        meta_datasets: Sequence[str] | None = None,
        exclude_sources: Collection[str] = (),
        exclude_keys: Collection[str] = (),
        guard: bool = True,
        examples_only: bool = False,
    ) -> list[list[SelectedTask]]:
        """Rank tasks for each instruction. ``guard``: when an instruction is itself an instruction of
        the index, that task and every task sharing its source are left out (see :meth:`guard_hit`).
        ``examples_only``: only tasks known to ship examples (what ``export``/``tune`` can train on)."""
        k = check_k(k)
        texts = [
            check_instruction(text, f"instruction {i + 1}" if len(instructions) > 1 else "instruction")
            for i, text in enumerate(instructions)
        ]
        base = self.allowed_mask(meta_datasets, exclude_sources, exclude_keys)
        if examples_only:
            base &= np.array([t.has_examples is not False for t in self.index.tasks], dtype=bool)
        seen = [self.index.view(text) for text in texts]  # the index's text view, as its instructions
        vectors = self.index.encode_queries(seen) if self.method in ("dense", "hybrid") and texts else None
        depth = max(k, FIT_DEPTH) if self.answer_fit else k
        results = []
        for row, text in enumerate(texts):
            query = vectors[row] if vectors is not None else None
            allowed = self._guarded(base, text, query) if guard else base
            if self.method == "dense":
                ranked = self._dense(query, allowed, depth, self.aggregate)
            elif self.method == "bm25":
                ranked = self._bm25(seen[row], allowed, depth, self.aggregate)
            else:
                ranked = self._hybrid(seen[row], query, allowed, depth)
            ranked = rerank(ranked, self._answer_words, self.answer_fit)[:k]
            results.append(self._selected(ranked))
        return results

    def allowed_mask(
        self, meta_datasets: Sequence[str] | None, exclude_sources: Collection[str], exclude_keys: Collection[str]
    ) -> np.ndarray:
        index = self.index
        allowed = np.ones(len(index.tasks), dtype=bool)
        if meta_datasets:
            unknown = sorted(set(meta_datasets) - set(index.meta_datasets))
            if unknown:
                raise ConfigError(
                    f"meta-dataset {unknown[0]!r} is not in the index (it holds: {', '.join(index.meta_datasets)})"
                )
            allowed &= np.isin(index.task_meta, list(meta_datasets))
        sources, keys = set(exclude_sources), set(exclude_keys)
        if sources or keys:
            allowed &= np.array([t.source_key not in sources and t.key not in keys for t in index.tasks], dtype=bool)
        return allowed

    # --- internals ---------------------------------------------------------------------------
    def guard_hit(self, text: str, vector: np.ndarray | None = None) -> GuardHit | None:
        """Why the guard drops tasks for ``text``: the index task it is an instruction of, else None.

        ``vector``: the query's dense vector, if computed (see ``InstructionIndex.find_instruction``);
        hits are remembered per text, so the search and its report look the text up once.
        """
        if text in self._guard_hits:
            return self._guard_hits[text]
        hit = self.index.find_instruction(text, vector)
        found = None
        if hit is not None:
            target = self.index.tasks[int(self.index.instr_task[hit])]
            removed = int((~self.allowed_mask(None, {target.source_key}, {target.key})).sum())
            found = GuardHit(target.key, target.source_key, removed)
        self._guard_hits[text] = found
        return found

    def _guarded(self, allowed: np.ndarray, text: str, vector: np.ndarray | None) -> np.ndarray:
        hit = self.guard_hit(text, vector)
        if hit is None:
            return allowed
        return allowed & self.allowed_mask(None, {hit.source_key}, {hit.task})

    def _mean_of(
        self, scores_of: Callable[[np.ndarray], np.ndarray], aggregate: str
    ) -> Callable[[np.ndarray], np.ndarray]:
        def mean_of(tasks: np.ndarray) -> np.ndarray:
            out = np.empty(len(tasks), dtype=np.float32)
            for i, task in enumerate(tasks.tolist()):
                start = self._starts[task]
                out[i] = reduce_scores(scores_of(np.arange(start, start + self._counts[task])), aggregate)
            return out

        return mean_of

    def _dense(self, query: np.ndarray, allowed: np.ndarray, k: int, aggregate: str) -> list[RankedTask]:
        index = self.index
        if self.normalise != "none" or (aggregate in MEANS and index.exact):
            return self._all_tasks(np.asarray(index.vectors) @ query, allowed, k, aggregate)
        total = len(index)
        mean_of = self._mean_of(lambda ids: index.instruction_scores(query, ids), aggregate)
        m = min(total, max(64, 4 * k))
        while True:
            scores, ids = index.dense_hits(query[None, :], m)
            ranked, done = rank_tasks(ids[0], scores[0], index.instr_task, allowed, k, aggregate, mean_of, m >= total)
            if done or m >= total:
                return ranked
            m = min(total, m * 4)

    def _all_tasks(self, scores: np.ndarray, allowed: np.ndarray, k: int, aggregate: str) -> list[RankedTask]:
        """The top ``k`` allowed tasks from every instruction's score: every task's score at once,
        normalised when asked (its statistics need them all). For ``mean`` or ``top2`` over a flat
        index this is also the fast path: the growing hit list of ``rank_tasks`` would compute them
        task by task, thousands of them when the top k lie below the best hits' floor."""
        per_task = self._task_scores(scores, aggregate)
        candidates = np.flatnonzero(allowed)
        order = candidates[np.argsort(-per_task[candidates], kind="stable")[:k]]
        out = []
        for task in order.tolist():
            start = int(self._starts[task])
            best = start + int(np.argmax(scores[start : start + self._counts[task]]))
            out.append(RankedTask(task, float(per_task[task]), best))
        return out

    def _task_scores(self, scores: np.ndarray, aggregate: str) -> np.ndarray:
        """Every task's score for one query from every instruction's, normalised when asked."""
        per_task = task_scores(scores, self._starts, self._counts, aggregate)
        return normalised(per_task, self._groups, self.normalise)

    def _bm25(self, text: str, allowed: np.ndarray, k: int, aggregate: str) -> list[RankedTask]:
        scores = self.index.bm25.scores(text)
        if self.normalise != "none":
            return self._all_tasks(scores, allowed, k, aggregate)
        order = np.argsort(-scores, kind="stable")
        mean_of = self._mean_of(lambda ids: scores[ids], aggregate)
        ranked, _ = rank_tasks(order, scores[order], self.index.instr_task, allowed, k, aggregate, mean_of, True)
        return ranked

    def _hybrid(self, text: str, query: np.ndarray, allowed: np.ndarray, k: int) -> list[RankedTask]:
        depth = max(k, HYBRID_DEPTH)
        fused: dict[int, float] = {}
        best: dict[int, int] = {}
        for ranking in (
            self._dense(query, allowed, depth, self.aggregate),
            self._bm25(text, allowed, depth, self.aggregate),
        ):
            for rank, item in enumerate(ranking, 1):
                fused[item.task] = fused.get(item.task, 0.0) + 1.0 / (RRF_K + rank)
                best.setdefault(item.task, item.best_instruction)
        order = sorted(fused, key=lambda t: -fused[t])[:k]
        return [RankedTask(t, fused[t], best[t]) for t in order]

    def _selected(self, ranked: list[RankedTask]) -> list[SelectedTask]:
        out = []
        for rank, item in enumerate(ranked, 1):
            task = self.index.tasks[item.task]
            out.append(
                SelectedTask(
                    rank=rank,
                    task_id=task.task_id,
                    meta_dataset=task.meta_dataset,
                    score=round(float(item.score), 6),
                    matched_instruction=self.index.texts[item.best_instruction],
                    categories=list(task.categories),
                    has_examples=task.has_examples,
                )
            )
        return out
