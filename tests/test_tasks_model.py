"""The task model: lookup, filtering, counts, lazy examples."""

from __future__ import annotations

import pytest

from instr_select.errors import DataError
from instr_select.tasks import Example, Task, TaskCollection


def make(task_id, meta="m", **kw):
    return Task(task_id=task_id, meta_dataset=meta, instructions=kw.pop("instructions", ["Do it."]), **kw)


def test_lookup_filter_counts():
    calls = []

    def loader():
        calls.append(1)
        return [Example("in", "out")]

    tasks = TaskCollection(
        [
            make("a", categories=["QA"], split="train", languages=["English"], example_loader=loader),
            make("b", categories=["NLI"], split="test", languages=["Spanish"]),
            make("a", meta="other", categories=["QA"]),
        ]
    )
    assert tasks.get("m:a").task_id == "a"
    assert tasks.find("a") is None  # ambiguous bare id
    assert tasks.get("b").key == "m:b"
    assert [t.key for t in tasks.filter(category="QA")] == ["m:a", "other:a"]
    assert [t.key for t in tasks.filter(meta_dataset="m", split="test")] == ["m:b"]
    assert [t.key for t in tasks.filter(language="English")] == ["m:a", "other:a"]
    assert calls == []  # examples are lazy
    counts = tasks.counts()
    assert calls == [1]
    assert counts["tasks"] == 3 and counts["examples"] == 1 and counts["categories"] == 2
    assert counts["meta_datasets"] == {"m": 2, "other": 1}
    assert [t.key for t in tasks.filter(with_examples=True)] == ["m:a"]


def test_duplicates_and_empty_instructions_rejected():
    with pytest.raises(DataError, match="duplicate task id 'm:a'"):
        TaskCollection([make("a"), make("a")])
    with pytest.raises(DataError, match="empty instruction"):
        make("x", instructions=["ok", "  "])
    with pytest.raises(DataError, match="no task 'm:zzz'"):
        TaskCollection([make("a")]).get("m:zzz")


def test_source_key_defaults_to_task_id():
    assert make("Super_GLUE").source_key == "superglue"
    assert make("t", source="Winogrande").source_key == "winogrande"
