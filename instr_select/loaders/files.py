"""Reading JSON, JSONL and YAML files with errors that name the file, line and fix.

The typed field readers (``text_field``, ``str_list_field``, ``dict_field``) never coerce: a
wrong type is a one-line DataError naming the field, not a string made of a dict or a list of
letters made of a string.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from instr_select.errors import DataError
from instr_select.textcheck import text_problem

MAX_FILE_BYTES = 2 * 1024**3  # a data file larger than this is refused before it is read


def read_text(path: Path) -> str:
    try:
        if not path.exists():
            raise DataError(path, "does not exist", "check the path or pass --data-dir")
        if path.is_dir():
            raise DataError(path, "is a directory, expected a file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DataError(path, f"is larger than {MAX_FILE_BYTES // 1024**3} GiB", "split it into smaller files")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"is not UTF-8 (byte {exc.start})", "re-encode the file as UTF-8") from None
    except OSError as exc:
        raise DataError(
            path, f"cannot be read ({exc.strerror or type(exc).__name__})", "check its permissions"
        ) from None


def parse_json(text: str, path: Path, line: int | None = None, fix: str = "fix the JSON syntax") -> Any:
    """``json.loads`` with every failure (syntax, nesting depth) as a DataError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        column = "" if line is not None else f" (column {exc.colno})"
        raise DataError(path, f"malformed JSON: {exc.msg}{column}", fix, where) from None
    except RecursionError:
        raise DataError(path, "JSON is nested too deeply", "flatten the data", line) from None


def read_json(path: Path) -> Any:
    return parse_json(read_text(path), path)


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line."""
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        obj = parse_json(line, path, number, "each line must be one JSON object")
        if not isinstance(obj, dict):
            raise DataError(path, "expected a JSON object", "each line must be one JSON object", number)
        yield number, obj


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "null" if value is None else f"a {type(value).__name__}")


def require(obj: dict[str, Any], field: str, path: Path, line: int | None = None, kind: type | tuple = str) -> Any:
    """``obj[field]``, or a DataError naming the missing or mistyped field (a boolean is never an int)."""
    if field not in obj or obj[field] is None:
        raise DataError(path, f"missing required field {field!r}", f"add {field!r}", line)
    value = obj[field]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise DataError(path, f"field {field!r} must be {names}, got {_type_name(value)}", line=line)
    return value


def text_field(obj: dict[str, Any], field: str, path: Path, line: int | None = None, default: str = "") -> str:
    """An optional text field (null or absent: ``default``): a string, else a DataError."""
    value = obj.get(field)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    raise DataError(path, f"field {field!r} must be a string, got {_type_name(value)}", line=line)


def str_list_field(obj: dict[str, Any], field: str, path: Path, line: int | None = None) -> list[str]:
    """An optional list of strings (null or absent: empty); a lone string or other type is a DataError."""
    value = obj.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        hint = f"write [{json.dumps(value)}]" if isinstance(value, str) else "write a list of strings"
        raise DataError(path, f"field {field!r} must be a list of strings, got {_type_name(value)}", hint, line)
    for item in value:
        if not isinstance(item, str):
            raise DataError(path, f"field {field!r} must hold only strings, found {_type_name(item)}", line=line)
    return list(value)


def list_field(obj: dict[str, Any], field: str, path: Path, line: int | None = None) -> list[Any]:
    """An optional list (null or absent: empty)."""
    value = obj.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(path, f"field {field!r} must be a list, got {_type_name(value)}", line=line)
    return value


def dict_field(obj: dict[str, Any], field: str, path: Path, line: int | None = None) -> dict[str, Any]:
    """An optional object (null or absent: empty)."""
    value = obj.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(path, f"field {field!r} must be an object, got {_type_name(value)}", line=line)
    return dict(value)


def task_id_text(value: str, field: str, path: Path, line: int | None = None) -> str:
    """A task id read from ``field`` (a field, or the file name): non-empty readable text, else a DataError."""
    if not value.strip():
        raise DataError(path, f"{field} (the task's id) is empty", "give every task a non-empty id", line)
    problem = text_problem(value)
    if problem:
        raise DataError(path, f"{field} (the task's id) {problem}", line=line)
    return value


def instruction_text(value: str, field: str, path: Path, line: int | None = None) -> str:
    """An instruction read from ``field``, stripped: non-empty readable text, else a DataError naming the field."""
    text = value.strip()
    if not text:
        raise DataError(path, f"{field} is empty", "write the task's instruction there", line)
    problem = text_problem(text)
    if problem:
        raise DataError(path, f"{field} {problem}", line=line)
    return text


class UniqueIds:
    """Task ids seen so far in one load, each with where it was first read (for a duplicate's message)."""

    def __init__(self, meta_dataset: str) -> None:
        self.meta_dataset = meta_dataset
        self._first: dict[str, str] = {}

    def add(self, task_id: str, field: str, path: Path, line: int | None = None) -> str:
        where = f"{path.name}, line {line}" if line is not None else str(path)
        first = self._first.setdefault(task_id, where)
        if first != where:
            raise DataError(
                path,
                f"duplicate task id '{self.meta_dataset}:{task_id}' in {field}, first read from {first}",
                "give every task a unique id",
                line,
            )
        return task_id


def as_text(value: Any, where: str = "a field", path: Path | None = None, line: int | None = None) -> str:
    """A text value: strings as they are, numbers as digits, lists of those joined by newlines."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return "\n".join(as_text(v) for v in value)
    raise DataError(path, f"{where} must be text, got {_type_name(value)}", "write a string", line)
