"""A selection: the tasks a selector chose for a target, in one JSON format for every selector.

Instruction retrieval, BM25, the prompt-uncertainty selector and random choice all write this
format, so that export, tune and compare treat every selector alike.
"""

from __future__ import annotations

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
    provenance: dict[str, Any] = field(default_factory=dict)  # command and library versions, set on save

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.tasks]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "selection") -> Selection:
        if not isinstance(data, dict):
            raise DataError(where, "is not a JSON object", "pass a file written by query --save or select")
        if data.get("format") != SELECTION_FORMAT:
            raise DataError(
                where, f"selection format {data.get('format')!r} is not {SELECTION_FORMAT}", "re-run the selector"
            )
        _check_selection(data, where)
        try:
            tasks = [SelectedTask(**t) for t in data["tasks"]]
            return cls(**{**data, "tasks": tasks})
        except (KeyError, TypeError) as exc:
            raise DataError(
                where, f"not a selection ({exc})", "pass a file written by query --save or select"
            ) from None

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename), recording the command and library versions."""
        from instr_select.provenance import provenance

        if not self.provenance:
            self.provenance = provenance("faiss-cpu", "bm25s")
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Selection:
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "does not exist", "pass a selection JSON written by query --save or select")
        from instr_select.loaders.files import read_json

        return cls.from_dict(read_json(path), str(path))


_TASK_TYPES = {"rank": int, "task_id": str, "meta_dataset": str, "matched_instruction": str, "categories": list}
_TOP_TYPES = {"selector": str, "tasks": list, "query": (str, type(None)), "target": (str, type(None)), "params": dict}


def _check_selection(data: dict[str, Any], where: str) -> None:
    """Every field of the right type, so that nothing fails after export has started writing."""
    fix = "pass a file written by query --save or select"
    for key, kind in _TOP_TYPES.items():
        if key in data and not isinstance(data[key], kind):
            raise DataError(where, f"field {key!r} has the wrong type ({type(data[key]).__name__})", fix)
    seen = set()
    for i, task in enumerate(data.get("tasks") or []):
        if not isinstance(task, dict):
            raise DataError(where, f"tasks[{i}] is not an object", fix)
        for key, kind in _TASK_TYPES.items():
            if key in task and (not isinstance(task[key], kind) or isinstance(task[key], bool)):
                raise DataError(where, f"tasks[{i}].{key} must be {kind.__name__}, got {task[key]!r:.40}", fix)
        score = task.get("score")
        if (
            isinstance(score, bool)
            or not isinstance(score, (int, float))
            or score != score
            or abs(score) == float("inf")
        ):
            raise DataError(where, f"tasks[{i}].score must be a finite number, got {score!r:.40}", fix)
        if isinstance(task.get("rank"), int) and task["rank"] < 1:
            raise DataError(where, f"tasks[{i}].rank must be 1 or more, got {task['rank']}", fix)
        if not all(isinstance(c, str) for c in task.get("categories") or []):
            raise DataError(where, f"tasks[{i}].categories must hold strings", fix)
        key = (task.get("meta_dataset"), task.get("task_id"))
        if key in seen:
            raise DataError(where, f"tasks[{i}] selects {key[0]}:{key[1]} a second time", fix)
        seen.add(key)
