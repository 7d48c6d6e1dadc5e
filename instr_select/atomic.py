"""Atomic writes: build a file or directory under a temporary name, then rename it into place.

A failure part-way leaves what was there before untouched, and the result gets the ordinary
permissions of the user's umask (temporary files are created private). A directory is switched
with one ``renameat2(RENAME_EXCHANGE)`` where the system has it, so ``out`` is usable at every
instant; elsewhere the old copy is moved aside first, and a run killed between the two renames
is restored by the next run. Only directories instr-select wrote (recognised by their marker
file) are replaced, unless the user asked for it (``--overwrite``, ``overwrite_allowed``); leftovers of killed runs are removed by the next run on the same output.
Hand-written because no dependency offers it for directories: a rename into place is what makes
an interrupted build leave the previous artifact intact.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError
from instr_select.locking import output_lock

# files by which instr-select recognises a directory it wrote (index, encoder, model, mixture, reports)
OWN_MARKERS = (
    "manifest.json",
    "training_info.json",
    "instr_select_model.json",
    "mixture.json",
    "results.json",
    "registry.json",
)
_STALE_KINDS = ("tmp-", "old-", "work-")
_OVERWRITE: ContextVar[frozenset[str]] = ContextVar("instr_select_overwrite", default=frozenset())
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_path(out: str | Path, option: str = "--out") -> Path:
    """Refuse an output whose parent is a regular file (or unreachable), before any work starts."""
    out = Path(out)
    for parent in [out, *out.parents]:
        try:
            if parent.is_symlink() and not parent.exists():
                raise ConfigError(f"{option} {out}: {parent} is a broken or looping symbolic link")
            if parent.exists():
                if parent != out and not parent.is_dir():
                    raise ConfigError(f"{option} {out}: {parent} is a file, not a folder (choose another path)")
                break
        except OSError as exc:
            raise ConfigError(f"{option} {out}: {parent} cannot be used ({exc.strerror or exc})") from None
    return out


def is_own_directory(path: Path, markers: Sequence[str] = OWN_MARKERS) -> bool:
    return any((path / marker).is_file() for marker in markers)


def _key(path: Path) -> str:
    return os.path.realpath(path)


@contextmanager
def overwrite_allowed(out: str | Path) -> Iterator[None]:
    """Within this block ``out`` may be replaced even if instr-select did not write it (``--overwrite``)."""
    token = _OVERWRITE.set(_OVERWRITE.get() | {_key(Path(out))})
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


def check_replaceable(
    out: str | Path, markers: Sequence[str] = OWN_MARKERS, option: str = "--out", overwrite: bool = False
) -> Path:
    """``out`` may be written: absent, an empty folder, a folder instr-select wrote (a marker file),
    or any folder when ``overwrite`` (or inside ``overwrite_allowed(out)``)."""
    out = check_output_path(out, option)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConfigError(f"{option} {out} exists and is not a folder (choose another path)")
    if overwrite or _key(out) in _OVERWRITE.get():
        return out
    if out.is_dir() and any(out.iterdir()) and not is_own_directory(out, markers):
        raise ConfigError(
            f"{option} {out} exists and was not written by instr-select (no {' or '.join(markers[:2])});"
            " choose a new path, empty it yourself, or pass --overwrite to replace it and its files"
        )
    return out


def _stale(out: Path) -> list[Path]:
    prefix = f".{out.name}."
    found = []
    for entry in out.parent.iterdir() if out.parent.is_dir() else ():
        rest = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
        if not rest or entry.is_symlink():
            continue
        if entry.is_dir():  # ``checkpoints``: an encoder training's scratch folder of older versions
            stale = rest.startswith(_STALE_KINDS) or (entry / "checkpoints").is_dir()
        else:
            stale = ".tmp" in rest
        if stale:
            found.append(entry)
    return found


def recover(out: str | Path) -> None:
    """Restore ``out`` moved aside by a run killed between its two renames, and drop leftovers.

    Call it holding ``output_lock(out)`` (no other run is then using the leftovers).
    """
    out = Path(out)
    stale = _stale(out)
    if not out.exists():
        olds = sorted((p for p in stale if p.name.startswith(f".{out.name}.old-")), key=lambda p: p.stat().st_mtime)
        for old in reversed(olds):
            if (old / out.name).is_dir():
                os.replace(old / out.name, out)
                break
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _libc_renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return func


_renameat2 = _libc_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one system call; False where the system or file system lacks it."""
    if _renameat2 is None:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: fall back to two renames
        return False
    raise OSError(err, os.strerror(err), str(b))


def _switch(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    if exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # ``tmp`` now holds the old copy
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    os.replace(out, old / out.name)
    os.replace(tmp, out)  # a kill just before this line is undone by ``recover`` on the next run
    shutil.rmtree(old, ignore_errors=True)


def _apply_umask(root: Path) -> None:
    mask = _umask()
    for path, _dirs, files in os.walk(root):
        os.chmod(path, 0o777 & ~mask)
        for name in files:
            file = Path(path) / name
            if not file.is_symlink():
                os.chmod(file, (0o777 if os.access(file, os.X_OK) else 0o666) & ~mask)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed."""
    path = check_output_path(path, "output")
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, expected a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_directory(out: str | Path, markers: Sequence[str] = OWN_MARKERS) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces ``out``, on failure it is removed.

    ``out`` must be absent, empty, or a directory holding one of ``markers`` (written by instr-select).
    """
    out = check_replaceable(out, markers)
    out.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        recover(out)
        check_replaceable(out, markers)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
        try:
            yield tmp
            _apply_umask(tmp)
            _switch(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def write_text(path: str | Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(data, indent=indent, ensure_ascii=False, default=str))
