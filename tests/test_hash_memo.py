"""The hash memo: a cold load rereads no unchanged file, and still refuses every changed one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_index_fixtures import save_tiny_model, small_tasks

import instr_select.index.store as store
from instr_select.errors import DataError
from instr_select.hashing import HashMemo


def age(root: Path, seconds: float = 60) -> None:
    """Move every file's mtime into the past, out of the memo's racy window."""
    past = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch) -> Path:
    from instr_select.index import build_index

    monkeypatch.setenv("INSTR_SELECT_CACHE", str(tmp_path / "cache"))
    out = build_index(
        small_tasks(n_random=8), save_tiny_model(tmp_path / "enc", small_tasks(n_random=8)), tmp_path / "i"
    )
    age(out)
    return out


def no_hashing(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a file was hashed although the memo knew it")

    monkeypatch.setattr(store, "file_sha256", refuse)
    monkeypatch.setattr(store, "files_hash", refuse)


def test_second_load_reads_no_unchanged_file(index_dir: Path, monkeypatch) -> None:
    first = store.InstructionIndex.load(index_dir)
    no_hashing(monkeypatch)
    second = store.InstructionIndex.load(index_dir)
    assert second.texts == first.texts


def test_changed_file_with_its_old_mtime_is_still_refused(index_dir: Path) -> None:
    store.InstructionIndex.load(index_dir)  # memoised
    path = index_dir / store.INSTRUCTIONS_FILE
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[data.index(b"a")] = ord("b")  # same size, other content
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back; ctime cannot be
    with pytest.raises(DataError, match="instructions.jsonl.*content hash"):
        store.InstructionIndex.load(index_dir)


def test_a_file_swapped_in_is_refused(index_dir: Path, tmp_path: Path) -> None:
    store.InstructionIndex.load(index_dir)
    path = index_dir / store.TASKS_FILE
    copy = tmp_path / "copy"
    copy.write_bytes(path.read_bytes().replace(b'"count": 1', b'"count": 1 '))
    os.replace(copy, path)  # another inode
    age(index_dir)
    with pytest.raises(DataError, match="tasks.jsonl"):
        store.InstructionIndex.load(index_dir)


def test_recent_files_are_not_memoised(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    memo = HashMemo(tmp_path, folder=tmp_path / "memo")
    calls = []
    compute = lambda: calls.append(1) or "h"  # noqa: E731
    assert memo.hash("f", [tmp_path / "f"], compute) == "h"
    assert memo.hash("f", [tmp_path / "f"], compute) == "h"
    assert len(calls) == 2 and not memo.changed
    age(tmp_path)
    memo.hash("f", [tmp_path / "f"], compute)
    memo.save()
    again = HashMemo(tmp_path, folder=tmp_path / "memo")
    assert again.hash("f", [tmp_path / "f"], compute) == "h" and len(calls) == 3


def test_unwritable_or_damaged_memo_is_ignored(index_dir: Path, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("INSTR_SELECT_CACHE", str(blocker))
    assert len(store.InstructionIndex.load(index_dir)) > 0
    monkeypatch.setenv("INSTR_SELECT_CACHE", str(tmp_path / "cache2"))
    memo = HashMemo(index_dir)
    memo.path.parent.mkdir(parents=True)
    memo.path.write_text("{not json")
    assert len(store.InstructionIndex.load(index_dir)) > 0
