"""The index manifest: format version, encoder identity and hash, dimension, counts, provenance."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from instr_select.errors import DataError

FORMAT_VERSION = 2  # 2: task rows may carry answer_words and card, the manifest cards
READABLE_VERSIONS = (1, 2)  # a version-1 index reads as one without answer lengths or cards
MANIFEST_FILE = "manifest.json"
REBUILD = "rebuild it with `instr-select build-index` or scripts/build_default_index.py"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def command_line() -> str:
    from instr_select.provenance import command_line as pasteable

    return pasteable()


@dataclass
class Manifest:
    """What ``manifest.json`` holds. ``encoder`` keys: identity, hash, kind, normalize, query_path, files_hash."""

    dim: int
    factory: str
    encoder: dict[str, Any]
    counts: dict[str, Any]
    metric: str = "inner_product"
    normalized: bool = True
    search_params: dict[str, int] = field(default_factory=dict)
    bm25: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(
        default_factory=lambda: _library_versions("faiss-cpu", "bm25s", "sentence-transformers")
    )
    created: str = field(default_factory=now)
    command: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    text_view: str = "raw"  # what encoder and BM25 saw of each instruction (instr_select.textview)
    cards: list[str] = field(default_factory=list)  # task card fields embedded after each instruction (cards.py)
    hashes: dict[str, str] = field(default_factory=dict)  # SHA-256 of vectors, FAISS, tables, BM25 (store.py)
    format_version: int = FORMAT_VERSION
    kind: str = "instr-select-index"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, directory: Path) -> None:
        (directory / MANIFEST_FILE).write_text(
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False), "utf-8"
        )

    @classmethod
    def read(cls, directory: str | Path) -> Manifest:
        directory = Path(directory)
        if not directory.is_dir():
            raise DataError(directory, "index directory does not exist", REBUILD)
        path = directory / MANIFEST_FILE
        if not path.is_file():
            raise DataError(directory, "is not an index (no manifest.json)", REBUILD)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError) as exc:
            raise DataError(path, f"is not valid JSON ({exc.__class__.__name__})", REBUILD) from None
        if not isinstance(data, dict) or data.get("kind") != "instr-select-index":
            raise DataError(path, "is not an instr-select index manifest", REBUILD)
        version = data.get("format_version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            readable = " and ".join(map(str, READABLE_VERSIONS))
            raise DataError(
                path, f"index format version {version!r}, but this instr-select reads versions {readable}", REBUILD
            )
        try:
            manifest = cls(**data)
        except TypeError as exc:
            raise DataError(path, f"manifest fields do not match format {FORMAT_VERSION} ({exc})", REBUILD) from None
        if not isinstance(manifest.dim, int) or isinstance(manifest.dim, bool) or manifest.dim <= 0:
            raise DataError(path, f"dimension {manifest.dim!r} is not a positive integer", REBUILD)
        _check_types(path, manifest)
        for key in ("hash", "query_path", "files_hash"):
            if not isinstance(manifest.encoder.get(key), str):
                raise DataError(path, f"encoder entry lacks {key!r}", REBUILD)
        return manifest


_FIELD_TYPES = {
    "factory": str,
    "encoder": dict,
    "counts": dict,
    "metric": str,
    "search_params": dict,
    "bm25": dict,
    "versions": dict,
    "created": str,
    "command": str,
    "history": list,
    "extra": dict,
    "text_view": str,
    "cards": list,
    "hashes": dict,
}


def _check_types(path: Path, manifest: Manifest) -> None:
    from instr_select.textview import TEXT_VIEWS

    for name, kind in _FIELD_TYPES.items():
        value = getattr(manifest, name)
        if not isinstance(value, kind):
            raise DataError(path, f"field {name!r} must be {kind.__name__}, got {type(value).__name__}", REBUILD)
    instructions = manifest.counts.get("instructions")
    if not isinstance(instructions, int) or isinstance(instructions, bool) or instructions < 1:
        raise DataError(path, "field 'counts.instructions' must be a positive integer", REBUILD)
    if manifest.text_view not in TEXT_VIEWS:
        raise DataError(path, f"unknown text view {manifest.text_view!r}", REBUILD)
    if not all(name in ("answer", "category") for name in manifest.cards):  # cards.CARD_FIELDS (not imported)
        raise DataError(path, f"field 'cards' names unknown card fields {manifest.cards!r}", REBUILD)
    from instr_select.errors import ConfigError
    from instr_select.index.faiss_store import check_factory_syntax

    try:
        check_factory_syntax(manifest.factory)
    except ConfigError as exc:
        raise DataError(path, f"field 'factory': {exc}", REBUILD) from None


def _library_versions(*packages: str) -> dict[str, str]:
    from instr_select.provenance import library_versions  # build time only: the query path skips it

    return library_versions(*packages)
