"""Leave-out splits for retrieval evaluation: held-out P3 templates and NIV2 category queries."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from instr_select.tasks import Task, TaskCollection


@dataclass(frozen=True)
class Query:
    """One evaluation query: an instruction, the task it came from, and the relevant task keys."""

    query_id: str
    text: str
    task_key: str
    relevant: dict[str, int] = field(default_factory=dict)
    exclude_keys: tuple[str, ...] = ()


def _rng(seed: int, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def hold_out_templates(
    tasks: TaskCollection, min_templates: int = 4, seed: int = 0
) -> tuple[TaskCollection, list[Query]]:
    """Hold out one instruction of every task with ``min_templates`` or more (deterministic by seed).

    Returns the remaining tasks (held-out instructions removed; every other task unchanged) and
    one query per held-out instruction whose relevant task is its own.
    """
    kept: list[Task] = []
    queries: list[Query] = []
    for task in tasks:
        if len(task.instructions) < min_templates:
            kept.append(task)
            continue
        index = _rng(seed, task.key).randrange(len(task.instructions))
        rest = [text for i, text in enumerate(task.instructions) if i != index]
        kept.append(replace(task, instructions=rest, metadata={**task.metadata, "held_out_index": index}))
        queries.append(
            Query(query_id=f"q{len(queries)}", text=task.instructions[index], task_key=task.key, relevant={task.key: 1})
        )
    return TaskCollection(kept), queries


def dataset_level(queries: list[Query], index_tasks: TaskCollection) -> list[Query]:
    """The same queries with every index task of the query's source dataset relevant.

    promptsource files are ``dataset[/subset]``; subsets of one dataset (cbt/CN, cbt/NE, scan/*,
    winogrande/*) often share their templates verbatim, so file-level relevance asks a retriever
    to tell identical texts apart. Here relevance is the dataset (``Task.source_key``; collections
    such as glue and super_glue count each member dataset as its own).
    """
    members: dict[str, set[str]] = {}
    for task in index_tasks:
        members.setdefault(task.source_key, set()).add(task.key)
    sources = {task.key: task.source_key for task in index_tasks}
    return [
        replace(q, query_id=f"d{q.query_id}", relevant=dict.fromkeys(sorted(members[sources[q.task_key]]), 1))
        for q in queries
    ]


def category_queries(tasks: TaskCollection, max_queries: int | None = None, seed: int = 0) -> list[Query]:
    """One query per task that has categories: its first instruction; relevant = other tasks sharing a category.

    The query task itself is excluded from the ranking. ``max_queries`` subsamples (seeded).
    """
    by_category: dict[str, set[str]] = {}
    for task in tasks:
        for category in task.categories:
            by_category.setdefault(category, set()).add(task.key)
    queries: list[Query] = []
    for task in tasks:
        relevant = {key for c in task.categories for key in by_category[c]} - {task.key}
        if not relevant:
            continue
        queries.append(
            Query(
                query_id=f"c{len(queries)}",
                text=task.instructions[0],
                task_key=task.key,
                relevant=dict.fromkeys(sorted(relevant), 1),
                exclude_keys=(task.key,),
            )
        )
    if max_queries is not None and len(queries) > max_queries:
        queries = sorted(_rng(seed, "category-queries").sample(queries, max_queries), key=lambda q: int(q.query_id[1:]))
    return queries


def _normalized(text: str) -> str:
    return " ".join(text.lower().split())


def duplicated_elsewhere(
    index_tasks: TaskCollection, queries: list[Query], view: Callable[[str], str] | None = None
) -> list[bool]:
    """For each query: does a task of the index that is not relevant hold the same text (case and whitespace ignored)?

    Such a query cannot be answered by any text-similarity retriever: the other task's copy scores
    the maximum (identical text, identical embedding) while the query's own task lost that template.
    The share of queries without one is the Success@1 ceiling (e.g. cbt/CN vs cbt/NE, anli vs glue/mnli).
    ``view``: compare the texts as the retriever sees them (a text view of :mod:`instr_select.textview`).
    """
    view = view or (lambda text: text)
    owners: dict[str, set[str]] = {}
    for task in index_tasks:
        for text in task.instructions:
            owners.setdefault(_normalized(view(text)), set()).add(task.key)
    return [
        bool(owners.get(_normalized(view(q.text)), set()) - {q.task_key} - set(q.relevant) - set(q.exclude_keys))
        for q in queries
    ]
