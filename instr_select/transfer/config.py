"""What a transfer matrix measures: sources, targets, the base model, one per-source budget, seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from instr_select.compare.config import Budget
from instr_select.errors import ConfigError, DataError

# sized so the default matrix (26 sources, 21 targets) fits about 90 minutes on 2 cores in fp32
DEFAULT_BUDGET = {
    "examples_per_task": 64,
    "max_steps": 8,
    "batch_size": 8,
    "eval_examples": 10,
    "max_source_length": 128,
}


def default_budget() -> Budget:
    return Budget(**DEFAULT_BUDGET)


@dataclass
class TransferConfig:
    """One matrix. ``extra_seed_sources``: how many sources (in file order) run the seeds after the
    first (0: all of them); the others run the first seed only."""

    sources: list[str]
    targets: list[str]
    kinds: dict[str, str] = field(default_factory=dict)
    model: str = "smollm2-135m"
    budget: Budget = field(default_factory=default_budget)
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    extra_seed_sources: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.budget, dict):
            self.budget = Budget(**self.budget)
        if not self.sources:
            raise ConfigError("no source task: pass --sources FILE (lines of SOURCE:TASK [KIND])")
        if not self.targets:
            raise ConfigError("no target task: pass --targets FILE (lines of SOURCE:TASK [KIND])")
        both = sorted(set(self.sources) & set(self.targets))
        if both:
            raise ConfigError(f"{both[0]} is both a source and a target (a matrix measures transfer to other tasks)")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"--seeds must be distinct non-negative numbers, got {self.seeds}")
        if self.extra_seed_sources < 0:
            raise ConfigError(f"--extra-seed-sources must be >= 0, got {self.extra_seed_sources}")
        for name in ("examples_per_task", "max_steps", "batch_size", "eval_examples", "max_source_length"):
            if getattr(self.budget, name) <= 0:
                raise ConfigError(f"budget {name} must be >= 1, got {getattr(self.budget, name)}")

    def seeds_of(self, source: str) -> list[int]:
        """The seeds ``source`` is trained with."""
        limit = self.extra_seed_sources or len(self.sources)
        return list(self.seeds) if self.sources.index(source) < limit else self.seeds[:1]

    def cells(self) -> list[tuple[str, int]]:
        """Every (source, seed) cell, first seed of every source first (a partial matrix is a whole row set)."""
        first = [(s, self.seeds[0]) for s in self.sources]
        rest = [(s, seed) for seed in self.seeds[1:] for s in self.sources if seed in self.seeds_of(s)]
        return first + rest

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_shard(text: str | None) -> tuple[int, int]:
    """``I/N`` (1 <= I <= N) -> (I, N); None -> (1, 1)."""
    if text is None:
        return 1, 1
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or n < 1 or not 1 <= i <= n:
        raise ConfigError(f"--shard {text!r} must be I/N with 1 <= I <= N (e.g. --shard 1/4)")
    return i, n


def shard_cells(cells: list[tuple[str, int]], shard: tuple[int, int]) -> list[tuple[str, int]]:
    """This shard's share: whole sources (every seed of a source in one shard), dealt round-robin."""
    index, count = shard
    order = list(dict.fromkeys(source for source, _ in cells))
    mine = {source for n, source in enumerate(order) if n % count == index - 1}
    return [cell for cell in cells if cell[0] in mine]


def read_task_file(path: str | Path, option: str) -> tuple[list[str], dict[str, str]]:
    """A file of ``SOURCE:TASK [KIND]`` lines (``#`` comments) -> (task keys, key -> kind)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot be read ({exc.__class__.__name__})", f"pass a text file to {option}") from None
    keys: list[str] = []
    kinds: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, kind = line.partition(" ")
        meta, sep, task = key.partition(":")
        if not sep or not meta or not task:
            raise DataError(path, f"{key!r} is not SOURCE:TASK", "write one task per line, e.g. bbh:navigate", number)
        if key in kinds or key in keys:
            raise DataError(path, f"{key} is listed twice", "list each task once", number)
        keys.append(key)
        if kind.strip():
            kinds[key] = kind.strip()
    if not keys:
        raise DataError(path, "lists no task", f"give {option} one SOURCE:TASK line per task")
    return keys, kinds
