"""Selectors over a task pool: prompt uncertainty, random, high and low perplexity.

Every selector returns a :class:`instr_select.selection.Selection`, the format the instruction
retriever writes, so export, tune and compare treat all selectors alike.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError
from instr_select.selection import SelectedTask, Selection
from instr_select.tasks import Task, TaskCollection
from instr_select.uncertainty.perturb import stable_seed
from instr_select.uncertainty.scoring import ScoreConfig, Scorer, TaskScore, score_tasks

SELECTORS: tuple[str, ...] = ("uncertainty", "random", "high-ppl", "low-ppl")

# selector -> (TaskScore field, largest first?)
_RANK_BY: dict[str, tuple[str, bool]] = {
    "uncertainty": ("pu", True),
    "high-ppl": ("perplexity", True),
    "low-ppl": ("perplexity", False),
}


def check_selector(selector: str) -> str:
    if selector not in SELECTORS:
        raise ConfigError(f"unknown selector {selector!r} (choose one of: {', '.join(SELECTORS)})")
    return selector


def parse_selectors(text: str | Sequence[str]) -> list[str]:
    """``"uncertainty,random"`` (or a list of such strings) -> checked, de-duplicated names."""
    parts = [text] if isinstance(text, str) else list(text)
    names = [p.strip() for part in parts for p in part.split(",") if p.strip()]
    if not names:
        raise ConfigError("no selector given (e.g. --selectors uncertainty,random)")
    return list(dict.fromkeys(check_selector(n) for n in names))


def needs_model(selector: str) -> bool:
    """Random selection needs no model; the others score the pool with one."""
    return check_selector(selector) != "random"


def rank_scores(scores: Sequence[TaskScore], selector: str) -> list[TaskScore]:
    """Scores ordered best first for ``selector`` (ties broken by task key, deterministic)."""
    attr, largest = _RANK_BY[check_selector(selector)] if selector != "random" else ("", True)
    if not attr:
        raise ConfigError("the random selector does not rank scores; use random_tasks")
    sign = -1.0 if largest else 1.0
    return sorted(scores, key=lambda s: (sign * getattr(s, attr), s.key))


def random_tasks(tasks: Sequence[Task], n: int, seed: int) -> list[Task]:
    """``n`` tasks drawn uniformly without replacement, reproducible from ``seed``."""
    ordered = sorted(tasks, key=lambda t: t.key)
    rng = random.Random(stable_seed("random-selector", seed))
    return rng.sample(ordered, min(n, len(ordered)))


def _selected(rank: int, task: Task, score: float) -> SelectedTask:
    return SelectedTask(
        rank=rank,
        task_id=task.task_id,
        meta_dataset=task.meta_dataset,
        score=float(score),
        matched_instruction=task.instructions[0],
        categories=list(task.categories),
    )


def select_from_pool(
    pool: TaskCollection,
    selector: str,
    n: int,
    scorer: Scorer | None = None,
    config: ScoreConfig | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    params: dict[str, Any] | None = None,
) -> tuple[Selection, list[TaskScore]]:
    """Choose ``n`` tasks of ``pool`` with ``selector``; returns the selection and the scores used.

    ``uncertainty`` takes the highest prompt uncertainty, ``high-ppl``/``low-ppl`` the highest or
    lowest perplexity of the model's own greedy outputs, ``random`` a seeded uniform draw.
    """
    check_selector(selector)
    if n < 1:
        raise ConfigError(f"-k/--per-iteration must be >= 1, got {n}")
    config = config or ScoreConfig()
    all_params: dict[str, Any] = {"selector": selector, "n": n, "pool_size": len(pool), **asdict(config)}
    all_params.update(params or {})
    if selector == "random":
        chosen = random_tasks(list(pool), n, config.seed)
        tasks = [_selected(rank, t, 0.0) for rank, t in enumerate(chosen, 1)]
        return Selection(selector=selector, tasks=tasks, params=all_params), []
    if scorer is None:
        raise ConfigError(f"the {selector} selector needs a model (--model)")
    scores = score_tasks(scorer, pool, config, cache_dir=cache_dir, progress=progress)
    attr = _RANK_BY[selector][0]
    ranked = rank_scores(scores, selector)[:n]
    tasks = [_selected(rank, pool.get(s.key), getattr(s, attr)) for rank, s in enumerate(ranked, 1)]
    all_params["model_hash"] = scorer.model_id
    all_params["score"] = attr
    return Selection(selector=selector, tasks=tasks, params=all_params), scores
