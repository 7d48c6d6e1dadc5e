"""The candidate pool of a selector: sources loaded, tasks without examples checked, subset drawn."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError
from instr_select.provenance import command_line, library_versions
from instr_select.tasks import TaskCollection
from instr_select.uncertainty.perturb import stable_seed
from instr_select.uncertainty.scoring import require_examples


def split_sources(sources: Sequence[str]) -> list[str]:
    """``--pool a --pool b,c`` -> [a, b, c]."""
    names = [p.strip() for s in sources for p in s.split(",") if p.strip()]
    if not names:
        raise ConfigError("no pool given: pass --pool SOURCE (e.g. --pool bigbench)")
    return names


def load_pool(
    sources: Sequence[str],
    data_dir: str | Path | None = None,
    pool_size: int | None = None,
    seed: int = 0,
    skip_empty: bool = False,
    lenient: bool = False,
) -> TaskCollection:
    """Load the pool; tasks without examples are an error (or skipped); ``pool_size`` draws a seeded subset."""
    from instr_select.loaders import load_sources

    tasks = require_examples(load_sources(split_sources(sources), data_dir=data_dir, lenient=lenient), skip_empty)
    if not tasks:
        raise ConfigError("the pool holds no task with examples")
    if pool_size is not None:
        if pool_size < 1:
            raise ConfigError(f"--pool-size must be >= 1, got {pool_size}")
        if pool_size < len(tasks):
            rng = random.Random(stable_seed("pool", seed))
            keep = set(rng.sample(range(len(tasks)), pool_size))
            tasks = TaskCollection(t for i, t in enumerate(tasks) if i in keep)
    return tasks


def default_cache_dir() -> Path:
    """Uncertainty scores live in the per-user cache beside models and indexes."""
    from instr_select.paths import cache_dir

    return cache_dir() / "uncertainty"


def provenance() -> dict[str, Any]:
    """The command and library versions, recorded in every artifact."""
    versions = library_versions("torch", "transformers")
    return {"command": command_line(), "versions": versions}
