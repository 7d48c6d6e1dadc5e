"""User-facing errors: one line that names the file or field and the fix."""

from __future__ import annotations

from pathlib import Path


class InstrSelectError(Exception):
    """An error caused by the user's input; the CLI prints it as one line and exits 2."""

    exit_code = 2


class DataError(InstrSelectError):
    """A data file is missing, malformed, or holds an invalid task."""

    def __init__(self, path: str | Path | None, problem: str, fix: str = "", line: int | None = None) -> None:
        where = str(path) if path is not None else "input"
        if line is not None:
            where += f", line {line}"
        message = f"{where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)
        self.path = path
        self.line = line
        self.problem = problem
        self.fix = fix


class ConfigError(InstrSelectError):
    """An option or argument has an invalid value."""
