"""Content hashes of files and directories: how artifacts name the exact encoder they used."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

# provenance files describe how a model was made; they are not part of what it computes
PROVENANCE_FILES = frozenset({"training_info.json", "README.md"})


def files_hash(paths: Iterable[Path], root: Path) -> str:
    """SHA-256 over (path relative to ``root``, content) of the files, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def dir_hash(directory: str | Path) -> str:
    """Content hash of a model directory: every file but provenance files and checkpoints."""
    directory = Path(directory)
    files = [
        p
        for p in directory.rglob("*")
        if p.is_file()
        and p.relative_to(directory).as_posix() not in PROVENANCE_FILES
        and not p.relative_to(directory).as_posix().startswith("checkpoints/")
    ]
    return files_hash(files, directory)
