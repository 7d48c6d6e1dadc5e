"""The index's two tables: ``tasks.jsonl`` (one row per task) and ``instructions.jsonl`` (one per instruction).

Both are JSON lines written by the build. Lines are split at ``\\n`` only: ``str.splitlines`` also
splits at U+2028, U+2029 and U+0085, which JSON leaves unescaped inside strings.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from instr_select.errors import DataError
from instr_select.index.manifest import REBUILD


@dataclass
class TaskRecord:
    """A task of the index; its instructions are the ids ``start .. start + count - 1``."""

    key: str
    task_id: str
    meta_dataset: str
    categories: list[str] = field(default_factory=list)
    source: str = ""
    source_key: str = ""
    start: int = 0
    count: int = 0
    has_examples: bool | None = None  # whether the task ships examples (None: an index built before this was recorded)
    answer_words: float | None = None  # median words of its answers (None: no examples, or an older index)
    card: str | None = None  # the card lines embedded after each instruction (None: an index without cards)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_TASK_FIELDS = {
    "key": str,
    "task_id": str,
    "meta_dataset": str,
    "categories": list,
    "source": str,
    "source_key": str,
    "start": int,
    "count": int,
}
# absent in indexes built before they were recorded; null when unknown
_OPTIONAL_TASK_FIELDS = {"has_examples": (bool,), "answer_words": (float, int), "card": (str,)}
_KEYS = frozenset(_TASK_FIELDS)


def task_table(path: Path, check: bool = True) -> list[TaskRecord]:
    """tasks.jsonl as TaskRecords: known keys of the right types, instruction ranges contiguous from 0.

    ``check=False`` for a file whose exact content passed these checks before (see ``InstructionIndex.load``).
    """
    rows = read_jsonl(path)
    if check and not _well_formed(rows):
        _raise_row_problem(path, rows)
    return [TaskRecord(**row) for row in rows]


def _well_formed(rows: list) -> bool:
    """The whole table checked column by column (a cold query reads thousands of rows: one Python
    pass per row and field took longer than the search itself); problems are located by
    :func:`_raise_row_problem`."""
    if not all(type(row) is dict and _KEYS <= row.keys() <= _KEYS | _OPTIONAL_TASK_FIELDS.keys() for row in rows):
        return False
    for key, kind in _TASK_FIELDS.items():
        if not all(type(v) is kind for v in [row[key] for row in rows]):
            return False
    for key, kinds in _OPTIONAL_TASK_FIELDS.items():  # type(): 1 == True
        if not all(type(row.get(key)) in (*kinds, type(None)) for row in rows):
            return False
    if not all(row.get("answer_words") is None or 0 <= row["answer_words"] < math.inf for row in rows):
        return False
    if not all(type(c) is str for row in rows for c in row["categories"]):
        return False
    counts = [row["count"] for row in rows]
    starts = [row["start"] for row in rows]
    return min(counts, default=1) >= 1 and starts == list(itertools.accumulate(counts[:-1], initial=0))


def _raise_row_problem(path: Path, rows: list) -> None:
    """The first bad row of a table that :func:`_well_formed` refused, by line number."""
    start = 0
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise DataError(path, "a row is not a JSON object", REBUILD, line=number)
        if set(row) - _OPTIONAL_TASK_FIELDS.keys() != set(_TASK_FIELDS):
            extra = sorted((set(row) - _OPTIONAL_TASK_FIELDS.keys()) ^ set(_TASK_FIELDS))
            raise DataError(path, f"row has unknown or missing fields ({', '.join(extra)})", REBUILD, line=number)
        for key, kind in _TASK_FIELDS.items():
            value = row[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise DataError(path, f"field {key!r} must be {kind.__name__}", REBUILD, line=number)
        if not isinstance(row.get("has_examples"), bool | None):
            raise DataError(path, "field 'has_examples' must be true, false or null", REBUILD, line=number)
        if not isinstance(row.get("card"), str | None):
            raise DataError(path, "field 'card' must be text or null", REBUILD, line=number)
        words = row.get("answer_words")
        if words is not None and (type(words) not in (float, int) or not 0 <= words < math.inf):
            raise DataError(path, "field 'answer_words' must be a number >= 0 or null", REBUILD, line=number)
        if not all(isinstance(c, str) for c in row["categories"]):
            raise DataError(path, "field 'categories' must hold strings", REBUILD, line=number)
        if row["count"] < 1 or row["start"] != start:
            raise DataError(
                path,
                f"instruction range start={row['start']} count={row['count']} is out of order",
                REBUILD,
                line=number,
            )
        start += row["count"]
    raise DataError(path, "is not a valid task table", REBUILD)


def instruction_texts(path: Path) -> list[str]:
    """The ``text`` of every row of instructions.jsonl, each row checked."""
    texts = []
    for number, row in enumerate(read_jsonl(path), 1):
        texts.append(_text_of(row, path, number))
    return texts


class InstructionTexts(Sequence[str]):
    """instructions.jsonl decoded row by row when a text is asked for.

    A cold query shows ten matched instructions out of thousands, and decoding every row took as
    long as the rest of the search. Only for a file whose exact content was checked before (its
    signature unchanged since, see :class:`~instr_select.hashing.HashMemo`); any other file is read
    whole by :func:`instruction_texts`, so damage is named at load time.
    """

    def __init__(self, path: Path, lines: list[bytes]) -> None:
        self.path = path
        self._lines = lines
        self._texts: list[str | None] = [None] * len(lines)

    @classmethod
    def read(cls, path: Path) -> InstructionTexts:
        return cls(path, [line for line in _read_bytes(path).split(b"\n") if line.strip()])

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        text = self._texts[i]
        if text is None:
            number = i % len(self) + 1
            text = self._texts[i] = _text_of(_parse_line(self._lines[i], self.path, number), self.path, number)
        return text

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (InstructionTexts, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by content, like the list it stands for


def _text_of(row: Any, path: Path, number: int) -> str:
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        raise DataError(path, "row has no text field 'text'", REBUILD, line=number)
    return row["text"]


def _parse_line(line: bytes, path: Path, number: int) -> Any:
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        raise DataError(path, "is not UTF-8 text", REBUILD, line=number) from None
    except (json.JSONDecodeError, RecursionError):
        raise DataError(path, "is not valid JSON lines", REBUILD, line=number) from None


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(path, "is missing", REBUILD)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror or exc})", REBUILD) from None


def read_jsonl(path: Path) -> list[Any]:
    """Every non-blank line of a JSON-lines file, decoded; the first bad line is named."""
    try:
        text = _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(path, "is not UTF-8 text", REBUILD) from None
    lines = [line for line in text.split("\n") if line.strip()]
    try:  # one decode call for the whole file: several times faster than one per line
        return json.loads("[" + ",".join(lines) + "]")
    except (json.JSONDecodeError, RecursionError):
        pass
    for number, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise DataError(path, "is not valid JSON lines", REBUILD, line=number) from None
    raise DataError(path, "is not valid JSON lines", REBUILD)
