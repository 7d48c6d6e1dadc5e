"""Where the meta-datasets live: ``--data-dir``, ``INSTR_SELECT_DATA``, or ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

from instr_select.errors import ConfigError

ENV_DATA_DIR = "INSTR_SELECT_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path | None:
    """``../shared/data`` beside the repository root, if it exists."""
    candidate = REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: the explicit argument, then the environment variable, then the default."""
    if data_dir is not None:
        chosen, origin = Path(data_dir), "--data-dir"
    elif os.environ.get(ENV_DATA_DIR):
        chosen, origin = Path(os.environ[ENV_DATA_DIR]), ENV_DATA_DIR
    else:
        found = default_data_dir()
        if found is None:
            raise ConfigError(
                f"no data directory: pass --data-dir or set {ENV_DATA_DIR} to the folder holding the meta-datasets"
            )
        return found
    if not chosen.is_dir():
        raise ConfigError(f"{origin} {chosen} is not a directory (point it at the folder holding the meta-datasets)")
    return chosen


def file_stem(name: str, limit: int = 80) -> str:
    """A short, safe file name for ``name`` (a task key): its readable part, plus a hash when cut.

    Task ids can be hundreds of characters long (file names stop at 255 bytes) and hold ``:`` or ``/``.
    """
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace(":", "__").replace("/", "__")).strip("._") or "task"
    if len(safe) <= limit and safe == name.replace(":", "__").replace("/", "__"):
        return safe
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe[: limit - 13]}-{digest}"
