"""Where things live, independent of where the package is installed.

- meta-datasets: ``--data-dir``, then ``INSTR_SELECT_DATA``, then (in a source checkout only)
  ``../shared/data`` beside the repository;
- per-user cache (models, the default index): ``INSTR_SELECT_CACHE``, else
  ``$XDG_CACHE_HOME/instr-select``, else ``~/.cache/instr-select``;
- the default index: ``INSTR_SELECT_INDEX``, else ``indexes/default`` in a source checkout (beside
  ``indexes/default.json``, the recipe it is built from), else ``<cache>/indexes/default`` for an
  installed wheel (built by ``instr-select build-default``).
"""

from __future__ import annotations

import os
from pathlib import Path

from instr_select.errors import ConfigError

ENV_DATA_DIR = "INSTR_SELECT_DATA"
ENV_CACHE_DIR = "INSTR_SELECT_CACHE"
ENV_INDEX_DIR = "INSTR_SELECT_INDEX"
REPO_ROOT = Path(__file__).resolve().parent.parent  # a source checkout's root (only used when it is one)


def is_source_checkout() -> bool:
    """True when the package runs from a clone of the repository (not an installed wheel)."""
    return (REPO_ROOT / "setup.cfg").is_file() and (REPO_ROOT / "instr_select").is_dir()


def default_data_dir() -> Path | None:
    """``../shared/data`` beside a source checkout, if both exist."""
    if not is_source_checkout():
        return None
    candidate = REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def cache_dir() -> Path:
    """The per-user cache folder (not created here)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "instr-select"


def default_index_dir() -> Path:
    """Where the default index is read from and built to."""
    if os.environ.get(ENV_INDEX_DIR):
        return Path(os.environ[ENV_INDEX_DIR]).expanduser()
    if is_source_checkout():
        return REPO_ROOT / "indexes" / "default"
    return cache_dir() / "indexes" / "default"


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
