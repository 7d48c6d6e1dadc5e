"""One writer per output: a lock file ``.NAME.lock`` beside each output directory or file.

Two runs writing the same ``--out`` would otherwise both "succeed" (last writer wins) or collide
mid-rename. The lock is an ``flock`` on the lock file, so a killed run never leaves it held; the
file is removed when the lock is released.
Re-entrant within one process (the build step and its atomic rename share one lock).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from instr_select.errors import ConfigError

try:  # POSIX; elsewhere runs are not serialised (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HELD: dict[str, int] = {}


def lock_path(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.lock"


@contextmanager
def output_lock(out: str | Path, wait: float | None = None) -> Iterator[None]:
    """Hold the lock of ``out``; another holder makes this wait ``wait`` seconds, then a ConfigError.

    ``wait`` defaults to ``$INSTR_SELECT_LOCK_WAIT`` (seconds, default 0: fail at once).
    """
    out = Path(out)
    key = str(out.absolute())
    if key in _HELD or fcntl is None:
        _HELD[key] = _HELD.get(key, 0) + 1
        try:
            yield
        finally:
            _HELD[key] -= 1
            if not _HELD[key]:
                del _HELD[key]
        return
    if wait is None:
        try:
            wait = float(os.environ.get("INSTR_SELECT_LOCK_WAIT", "0"))
        except ValueError:
            wait = 0.0
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"{out} is being written by another instr-select run (lock {path.name}); wait for it"
                    " to finish or choose another --out"
                ) from None
            time.sleep(0.2)
            continue
        try:  # the holder before us may have removed the file: lock the one now at ``path``
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
            path.unlink(missing_ok=True)  # removed while still held, so no one else locks a stale file
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
