"""Training pairs for alignment: positive groups, a dev split of held-out instructions, MNRL and InsTa pairs.

Positives are instructions describing the same task. Instructions are grouped by meta-dataset and
normalized source dataset (``Task.source_key``), which gives exactly the issue's positives: P3
templates of one dataset, a BIG-bench task with its subtasks (a subtask's source is its parent),
an NIV2 task's Definition and catalog summary, and NIV2 tasks sharing a source dataset.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from instr_select.errors import ConfigError, DataError
from instr_select.tasks import TaskCollection


@dataclass
class Group:
    """Instructions that describe one task (or tasks sharing one source dataset)."""

    key: str
    texts: list[str]
    task_keys: list[str] = field(default_factory=list)


@dataclass
class DevSplit:
    """Training groups, and held-out dev queries (one instruction of some groups) with their group keys."""

    groups: list[Group]
    dev_queries: list[tuple[str, str]]  # (text, group key)

    @property
    def train_texts(self) -> list[str]:
        return [t for g in self.groups for t in g.texts]


def seeded(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


GROUPINGS = ("task", "source", "category")


def _group_key(task, by: str) -> str:
    if by == "task":
        return task.key
    if by == "category" and task.categories:
        return f"{task.meta_dataset}:category:{sorted(task.categories)[0]}"
    return f"{task.meta_dataset}:{task.source_key}"


def positive_groups(tasks: TaskCollection, by: str = "source") -> list[Group]:
    """Group the distinct instructions of ``tasks`` by meta-dataset and source dataset (``by="source"``),
    by task (``by="task"``: e.g. tweet_eval/hate and tweet_eval/irony stay apart), or by the first
    category in sorted order (``by="category"``; tasks without one by source)."""
    groups: dict[str, Group] = {}
    for task in tasks:
        key = _group_key(task, by)
        group = groups.setdefault(key, Group(key, []))
        group.task_keys.append(task.key)
        for text in task.instructions:
            if text not in group.texts:
                group.texts.append(text)
    return list(groups.values())


def listed_groups(tasks: TaskCollection, task_groups: Sequence[Sequence[str]], repeats: int = 1) -> list[Group]:
    """Extra positive groups named by task keys (e.g. a target with the sources that transfer to it),
    each ``repeats`` times under its own key (so the batch sampler spreads the copies over batches)."""
    by_key = {task.key: task for task in tasks}
    unknown = sorted({key for keys in task_groups for key in keys if key not in by_key})
    if unknown:
        shown = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        raise ConfigError(
            f"task_groups names tasks that are not in the sources: {shown} (give keys like niv2:task363_sst2)"
        )
    groups = []
    for number, keys in enumerate(task_groups):
        groups += _copies(f"listed:{number}", [by_key[key] for key in keys], repeats)
    return groups


def shared_source_groups(tasks: TaskCollection, repeats: int = 1) -> list[Group]:
    """One positive group per source dataset found in two or more meta-datasets, holding its
    instructions in all of them (an NIV2 summary of an RTE task with the P3 RTE templates), each
    ``repeats`` times under its own key. The within-meta-dataset groups never pair styles; these do."""
    by_source: dict[str, list] = {}
    for task in sorted(tasks, key=lambda t: t.key):
        by_source.setdefault(task.source_key, []).append(task)
    groups = []
    for source, members in sorted(by_source.items()):
        if len({task.meta_dataset for task in members}) >= 2:
            groups += _copies(f"shared:{source}", members, repeats)
    return groups


def _copies(key: str, members: Sequence, repeats: int) -> list[Group]:
    """One group of the members' distinct instructions, ``repeats`` times under keys ``KEY:0``, ``KEY:1``, ..."""
    texts = list(dict.fromkeys(text for task in members for text in task.instructions))
    return [Group(f"{key}:{copy}", texts, [task.key for task in members]) for copy in range(repeats)]


def split_dev(groups: Sequence[Group], dev_fraction: float = 0.1, min_size: int = 3, seed: int = 0) -> DevSplit:
    """Hold out one instruction from a seeded ``dev_fraction`` of the groups with ``min_size`` or more."""
    eligible = [g.key for g in groups if len(g.texts) >= min_size]
    rng = seeded(seed, "dev-groups")
    chosen = set(rng.sample(eligible, round(len(eligible) * dev_fraction))) if dev_fraction > 0 else set()
    train: list[Group] = []
    dev: list[tuple[str, str]] = []
    for group in groups:
        if group.key in chosen:
            index = seeded(seed, "dev", group.key).randrange(len(group.texts))
            dev.append((group.texts[index], group.key))
            train.append(Group(group.key, [t for i, t in enumerate(group.texts) if i != index], group.task_keys))
        else:
            train.append(group)
    return DevSplit(train, dev)


def require_pairs(groups: Sequence[Group], where: str = "sources") -> None:
    if not any(len(g.texts) >= 2 for g in groups):
        raise DataError(
            where,
            "no positive pairs: every task has a single instruction and shares its source with no other task",
            "train on a meta-dataset with several instructions per task (e.g. promptsource, niv2, bigbench)",
        )


def mnrl_pairs(groups: Sequence[Group], per_instruction: int = 2, seed: int = 0) -> dict[str, list[str]]:
    """(anchor, positive) pairs: each instruction of a group of 2+ with ``per_instruction`` seeded positives.

    Returns columns ``anchor``, ``positive`` and ``group`` (the group key, used by the batch sampler).
    """
    anchors, positives, keys = [], [], []
    for group in groups:
        if len(group.texts) < 2:
            continue
        rng = seeded(seed, "mnrl", group.key)
        for i, text in enumerate(group.texts):
            others = [t for j, t in enumerate(group.texts) if j != i]
            for positive in rng.sample(others, min(per_instruction, len(others))):
                anchors.append(text)
                positives.append(positive)
                keys.append(group.key)
    return {"anchor": anchors, "positive": positives, "group": keys}


def insta_pairs(
    groups: Sequence[Group],
    embed,
    subsample: float = 0.4,
    negative_below: float = 0.3,
    tries: int = 50,
    seed: int = 0,
) -> tuple[dict[str, list], dict[str, int]]:
    """The InsTa recipe's pairs: same-group pairs (label 1) subsampled to ``subsample``, and one negative
    per instruction (label 0) drawn from another group with base cosine below ``negative_below``.

    ``embed(texts) -> np.ndarray`` gives normalized base embeddings. When no candidate among ``tries``
    is below the threshold, the least similar one is used (counted in the returned stats).
    """
    rng = seeded(seed, "insta")
    positives = [(a, b) for g in groups for a, b in combinations(g.texts, 2)]
    keep = rng.sample(range(len(positives)), round(len(positives) * subsample)) if positives else []
    s1 = [positives[i][0] for i in sorted(keep)]
    s2 = [positives[i][1] for i in sorted(keep)]
    labels = [1.0] * len(s1)
    texts = [t for g in groups for t in g.texts]
    owner = np.array([gi for gi, g in enumerate(groups) for _ in g.texts])
    vectors = np.asarray(embed(texts), dtype=np.float32)
    fallback = 0
    if len(groups) > 1:
        for i, text in enumerate(texts):
            candidates = [j for j in (rng.randrange(len(texts)) for _ in range(tries)) if owner[j] != owner[i]]
            if not candidates:
                continue
            sims = vectors[candidates] @ vectors[i]
            below = [c for c, s in zip(candidates, sims, strict=True) if s < negative_below]
            if below:
                chosen = below[0]
            else:
                chosen, fallback = candidates[int(np.argmin(sims))], fallback + 1
            s1.append(text)
            s2.append(texts[chosen])
            labels.append(0.0)
    stats = {
        "positive_pairs_all": len(positives),
        "positive_pairs": len(keep),
        "negative_pairs": len(labels) - len(keep),
        "negatives_above_threshold": fallback,
    }
    return {"sentence1": s1, "sentence2": s2, "label": labels}, stats
