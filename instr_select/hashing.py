"""Content hashes of files and directories: how artifacts name the exact encoder they used."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# provenance files describe how a model was made (the model cache's registry.json also where its
# files lie on this machine); they are not part of what it computes
PROVENANCE_FILES = frozenset({"training_info.json", "README.md", "registry.json"})


def _feed(digest: Any, path: Path) -> None:
    """A file's bytes into ``digest``, a megabyte at a time (``hashlib.file_digest`` needs Python 3.11)."""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def file_sha256(path: Path) -> str:
    """SHA-256 of one file's content."""
    digest = hashlib.sha256()
    _feed(digest, path)
    return digest.hexdigest()


def files_hash(paths: Iterable[Path], root: Path) -> str:
    """SHA-256 over (path relative to ``root``, content) of the files, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        _feed(digest, path)
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


RACY_SECONDS = 2.0  # a file changed this recently may be rewritten within one timestamp tick: not memoised
MEMO_FORMAT = 1


def signature(path: Path) -> list[int]:
    """What changes whenever a file's content can have changed: device, inode, size, mtime, ctime.

    ctime is set by the kernel on every write, rename or chmod (tools cannot set it back), and a file
    swapped in from elsewhere has another inode.
    """
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class HashMemo:
    """Hashes of file groups remembered by the files' signatures, as git's index does for its blobs.

    A cold query would otherwise reread every file it verifies (tens of MB: the vectors and the
    static embedding matrix) only to find the hashes it found last time. One memo file per
    directory lives in the user cache (``<cache>/hash-memo``); an unreadable or unwritable memo is
    ignored (everything is hashed, nothing is remembered).
    """

    def __init__(self, root: Path, folder: Path | None = None) -> None:
        from instr_select.paths import cache_dir

        self.root = root.resolve()
        key = hashlib.sha256(str(self.root).encode()).hexdigest()[:24]
        self.path = (folder or cache_dir() / "hash-memo") / f"{key}.json"
        self.entries: dict[str, dict] = {}
        self.recalled: set[str] = set()  # names whose hash came from the memo
        self.changed = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") == MEMO_FORMAT and data.get("root") == str(self.root):
                self.entries = {k: v for k, v in data["entries"].items() if isinstance(v, dict)}
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            pass

    def hash(self, name: str, paths: Iterable[Path], compute: Callable[[], str]) -> str:
        """``compute()`` unless the files (same names, same signatures) were hashed before."""
        try:
            files = [
                [p.relative_to(self.root).as_posix(), *signature(p)] for p in sorted(Path(p).resolve() for p in paths)
            ]
        except (OSError, ValueError):
            return compute()
        entry = self.entries.get(name)
        if entry is not None and entry.get("files") == files and isinstance(entry.get("hash"), str):
            self.recalled.add(name)
            return entry["hash"]
        value = compute()
        newest = max((f[4] for f in files), default=0) / 1e9  # mtime_ns
        if time.time() - newest > RACY_SECONDS:
            self.entries[name] = {"files": files, "hash": value}
            self.changed = True
        return value

    def save(self) -> None:
        """Write the memo (atomically) if it learnt anything; failures are ignored."""
        if not self.changed:
            return
        data = {"format": MEMO_FORMAT, "root": str(self.root), "entries": self.entries}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
            self.changed = False
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
