"""A selection: the tasks a selector chose for a target, in one JSON format for every selector.

Instruction retrieval, BM25, the prompt-uncertainty selector and random choice all write this
format, so that export, tune and compare treat every selector alike.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from instr_select.atomic import write_json
from instr_select.errors import DataError

SELECTION_FORMAT = 1


@dataclass
class SelectedTask:
    """One chosen task, with its rank and the selector's score."""

    rank: int
    task_id: str
    meta_dataset: str
    score: float
    matched_instruction: str = ""
    categories: list[str] = field(default_factory=list)
    has_examples: bool | None = None  # None: not known (e.g. an index built before this was recorded)

    @property
    def key(self) -> str:
        return f"{self.meta_dataset}:{self.task_id}"


@dataclass
class Selection:
    """The tasks a selector chose, how, and for what target."""

    selector: str
    tasks: list[SelectedTask]
    query: str | None = None
    target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    format: int = SELECTION_FORMAT

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.tasks]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "selection") -> Selection:
        if data.get("format") != SELECTION_FORMAT:
            raise DataError(
                where, f"selection format {data.get('format')!r} is not {SELECTION_FORMAT}", "re-run the selector"
            )
        try:
            tasks = [SelectedTask(**t) for t in data["tasks"]]
            return cls(**{**data, "tasks": tasks})
        except (KeyError, TypeError) as exc:
            raise DataError(
                where, f"not a selection ({exc})", "pass a file written by query --save or select"
            ) from None

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Selection:
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "does not exist", "pass a selection JSON written by query --save or select")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(path, f"is not valid JSON ({exc})") from None
        return cls.from_dict(data, str(path))
