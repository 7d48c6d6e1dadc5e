"""Reading JSON, JSONL and YAML files with errors that name the file, line and fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from instr_select.errors import DataError


def read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(path, "does not exist", "check the path or pass --data-dir")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"is not UTF-8 (byte {exc.start})", "re-encode the file as UTF-8") from None


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            path, f"malformed JSON: {exc.msg} (column {exc.colno})", "fix the JSON syntax", exc.lineno
        ) from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line."""
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON: {exc.msg}", "each line must be one JSON object", number) from None
        if not isinstance(obj, dict):
            raise DataError(path, "expected a JSON object", "each line must be one JSON object", number)
        yield number, obj


def require(obj: dict[str, Any], field: str, path: Path, line: int | None = None, kind: type | tuple = str) -> Any:
    """``obj[field]``, or a DataError naming the missing or mistyped field."""
    if field not in obj or obj[field] is None:
        raise DataError(path, f"missing required field {field!r}", f"add {field!r}", line)
    value = obj[field]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(path, f"field {field!r} must be {names}, got {type(value).__name__}", line=line)
    return value


def as_text(value: Any) -> str:
    """A field value as text (lists are joined, numbers stringified)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(as_text(v) for v in value)
    return str(value)
