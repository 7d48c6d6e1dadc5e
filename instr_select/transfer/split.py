"""Dev and test targets of a transfer matrix: choices are made on dev, results reported on test.

A split is drawn once, before any tuning, by *kind*: every target of a kind falls on the same side,
so no test target has a dev twin (two sentiment tasks, two entailment tasks) that a choice made on dev
could have been fitted to. The kinds are shuffled with a seed and go to dev in that order, each one
that still fits within ``dev_fraction`` of the targets; the rest are test. The file is JSON::

    {"format": 1, "seed": 0, "dev_fraction": 0.4, "rule": "...", "kinds": {...},
     "dev": ["bbh:navigate", ...], "test": [...]}
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError, DataError

SPLIT_FORMAT = 1
SPLITS = ("dev", "test")
RULE = (
    "kinds shuffled with random.Random(seed); in that order, each whole kind goes to dev if dev then holds at "
    "most round(dev_fraction x targets) (at least one kind goes); the rest are test (a target without a kind "
    "is its own kind)"
)


def split_by_kind(
    targets: Sequence[str], kinds: dict[str, str], dev_fraction: float = 0.4, seed: int = 0
) -> dict[str, Any]:
    """A seeded dev/test split of ``targets`` that keeps each kind on one side (see the module doc)."""
    if not 0.0 < dev_fraction < 1.0:
        raise ConfigError(f"--dev-fraction must be between 0 and 1, not {dev_fraction}")
    groups: dict[str, list[str]] = {}
    for target in targets:
        groups.setdefault(kinds.get(target, target), []).append(target)
    if len(groups) < 2:
        raise ConfigError("the targets have one kind only: give them kinds (SOURCE:TASK KIND lines) to split by")
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    room = max(round(dev_fraction * len(targets)), 1)
    dev: list[str] = list(groups[order[0]])
    for kind in order[1:]:
        if len(dev) + len(groups[kind]) <= room:
            dev.extend(groups[kind])
    if len(dev) == len(targets):
        raise ConfigError("every target fell on dev: lower --dev-fraction or give the targets more kinds")
    chosen = set(dev)
    return {
        "format": SPLIT_FORMAT,
        "seed": seed,
        "dev_fraction": dev_fraction,
        "rule": RULE,
        "kinds": {t: kinds.get(t, t) for t in targets},
        "dev": [t for t in targets if t in chosen],
        "test": [t for t in targets if t not in chosen],
    }


def write_split(split: dict[str, Any], path: str | Path) -> Path:
    from instr_select.atomic import write_json

    return write_json(Path(path), split)


def read_split(path: str | Path, targets: Sequence[str] | None = None) -> dict[str, list[str]]:
    """``{"dev": [...], "test": [...]}`` of a split file, checked (and, given ``targets``, against them)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(path, f"is not a readable JSON split ({exc.__class__.__name__})",
                        "write it with `instr-select split-targets`") from None  # fmt: skip
    if not isinstance(data, dict) or data.get("format") != SPLIT_FORMAT:
        raise DataError(path, f"is not a split of format {SPLIT_FORMAT}", "write it with `instr-select split-targets`")
    out: dict[str, list[str]] = {}
    for name in SPLITS:
        value = data.get(name)
        if not isinstance(value, list) or not value or not all(isinstance(t, str) and t for t in value):
            raise DataError(path, f"field {name!r} must be a non-empty list of SOURCE:TASK strings",
                            "write it with `instr-select split-targets`")  # fmt: skip
        if len(set(value)) != len(value):
            raise DataError(path, f"field {name!r} names a target twice", "list each target once")
        out[name] = value
    both = sorted(set(out["dev"]) & set(out["test"]))
    if both:
        raise DataError(path, f"{both[0]} is in both dev and test", "put each target on one side")
    if targets is not None:
        known = set(targets)
        unknown = [t for name in SPLITS for t in out[name] if t not in known]
        if unknown:
            raise DataError(path, f"names {unknown[0]}, which is not a target of the matrix",
                            "split the matrix's own targets (see its manifest.json)")  # fmt: skip
    return out
