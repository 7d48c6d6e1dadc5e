"""Loading, hashing and atomically replacing saved sentence-transformers model directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from instr_select.errors import DataError
from instr_select.hashing import dir_hash
from instr_select.offline import ensure_offline

# Files that record how a model was made, not what it computes: left out of the content hash.


def _check_model_dir(path: Path) -> None:
    if not path.exists():
        raise DataError(
            path,
            "no such model directory (the model hub is not reachable here)",
            "pass a local sentence-transformers directory, e.g. one written by `instr-select train-encoder --out`",
        )
    if not path.is_dir():
        raise DataError(path, "is not a directory", "pass a local sentence-transformers model directory")
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise DataError(
            path, "holds no modules.json or config.json", "pass a directory saved by SentenceTransformer.save()"
        )


def load_encoder(name_or_path: str | Path):
    """Load a local sentence-transformers model offline (``local_files_only``); DataError if missing or corrupt."""
    path = Path(name_or_path).expanduser()
    _check_model_dir(path)
    ensure_offline()
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as exc:  # a damaged directory fails in many ways inside the library
        raise DataError(
            path,
            f"cannot be loaded as a sentence-transformers model ({type(exc).__name__}: {str(exc)[:200]})",
            "re-create it with `instr-select train-encoder`",
        ) from None


def encoder_hash(path: str | Path) -> str:
    """SHA-256 over the relative paths and contents of a saved model directory (provenance files excluded)."""
    _check_model_dir(Path(path))
    return dir_hash(path)


def is_static_encoder(path: str | Path) -> bool:
    """True when the model is a single StaticEmbedding module (queryable without torch)."""
    modules = Path(path) / "modules.json"
    if not modules.is_file():
        return False
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return len(entries) == 1 and entries[0].get("type", "").endswith("StaticEmbedding")


def encoder_text_view(encoder: Any) -> str:
    """The text view an encoder directory was trained on (its training_info.json), else the default view.

    An aligned encoder written before text views existed saw raw text.
    """
    from instr_select.textview import DEFAULT_TEXT_VIEW

    info = Path(encoder) / "training_info.json" if isinstance(encoder, str | Path) else None
    if info is None or not info.is_file():
        return DEFAULT_TEXT_VIEW
    try:
        return json.loads(info.read_text(encoding="utf-8")).get("text_view") or "raw"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return DEFAULT_TEXT_VIEW


def describe_base(path: str | Path) -> dict[str, Any]:
    """Identity of a base model directory for provenance records."""
    path = Path(path)
    info: dict[str, Any] = {"name": str(path), "hash": encoder_hash(path), "static": is_static_encoder(path)}
    if info["static"]:
        info["architecture"] = "static"
    return info
