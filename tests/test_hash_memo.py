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
    assert second.texts == first.texts and list(second.texts) == list(first.texts)


def test_encoder_check_runs_once_per_unchanged_index(index_dir: Path, monkeypatch, tmp_path: Path) -> None:
    import json
    import shutil

    from instr_select.index import build_index

    calls = []
    real = store.check_encoder_reproduces
    monkeypatch.setattr(store, "check_encoder_reproduces", lambda index: (calls.append(1), real(index)))
    store.InstructionIndex.load(index_dir)
    store.InstructionIndex.load(index_dir)
    assert len(calls) == 1  # the second load recalls every hash: the same files passed the check
    # an encoder folder of another build, with its manifest entry: new files, so the check runs again
    tasks = small_tasks(n_random=8)
    other = build_index(tasks, save_tiny_model(tmp_path / "enc2", tasks, seed=7), tmp_path / "other")
    manifest = json.loads((index_dir / "manifest.json").read_text())
    for name in ("static", "encoder"):
        if (other / name).is_dir():
            shutil.rmtree(index_dir / name, ignore_errors=True)
            shutil.copytree(other / name, index_dir / name)
    manifest["encoder"] = json.loads((other / "manifest.json").read_text())["encoder"]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    age(index_dir)
    with pytest.raises(DataError, match="does not reproduce"):
        store.InstructionIndex.load(index_dir)
    assert len(calls) == 2


def test_checked_tables_are_not_checked_again_and_texts_decode_on_demand(index_dir: Path, monkeypatch) -> None:
    from instr_select.index import tables
    from instr_select.retrieval import Retriever

    first = store.InstructionIndex.load(index_dir)  # checks the tables, then remembers their hashes
    assert isinstance(first.texts, list)
    monkeypatch.setattr(tables, "_well_formed", lambda rows: pytest.fail("an unchanged table was checked again"))
    second = store.InstructionIndex.load(index_dir)
    assert isinstance(second.texts, tables.InstructionTexts) and len(second.texts) == len(first.texts)
    assert second.tasks == first.tasks
    results = Retriever(second).search("Decide whether the second sentence follows from the first.", k=3)
    decoded = sum(text is not None for text in second.texts._texts)
    assert 0 < decoded < len(second.texts) // 2  # the matched instructions and guard candidates only
    assert results == Retriever(first).search("Decide whether the second sentence follows from the first.", k=3)


def test_guard_through_vectors_finds_what_a_text_lookup_finds(index_dir: Path) -> None:
    from instr_select.retrieval import Retriever

    store.InstructionIndex.load(index_dir)
    lazy = store.InstructionIndex.load(index_dir)
    eager = store.InstructionIndex.load(index_dir, verify=False)  # nothing recalled: every row read
    assert not isinstance(eager.texts, type(lazy.texts))
    for text in eager.texts:  # duplicates resolve to the first instruction with the text, as a dict lookup
        vector = lazy.encode_queries([lazy.view(text)])[0]
        assert lazy.find_instruction(text, vector) == eager.find_instruction(text)
    other = "Not an instruction of this index at all."
    assert lazy.find_instruction(other, lazy.encode_queries([lazy.view(other)])[0]) is None
    text = eager.texts[0]
    assert Retriever(lazy).search(text, k=50) == Retriever(eager).search(text, k=50)
    assert Retriever(lazy).guard_hit(text) == Retriever(eager).guard_hit(text) is not None


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


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_line_separators_inside_instructions_survive_both_readers(tmp_path: Path, monkeypatch, separator) -> None:
    """JSON leaves these unescaped; a reader splitting lines at them would cut the row in two."""
    import dataclasses

    from instr_select.index import build_index
    from instr_select.tasks import TaskCollection

    monkeypatch.setenv("INSTR_SELECT_CACHE", str(tmp_path / "cache"))
    tasks = list(small_tasks(n_random=2))
    text = f"Read the passage{separator}then answer the question."
    tasks[0] = dataclasses.replace(tasks[0], instructions=[text, *tasks[0].instructions[1:]])
    tasks = TaskCollection(tasks)
    out = build_index(tasks, save_tiny_model(tmp_path / "enc", tasks), tmp_path / "i")
    age(out)
    eager = store.InstructionIndex.load(out)
    lazy = store.InstructionIndex.load(out)
    assert isinstance(eager.texts, list) and not isinstance(lazy.texts, list)
    assert eager.texts[0] == lazy.texts[0] == text and len(eager.texts) == len(lazy.texts)
