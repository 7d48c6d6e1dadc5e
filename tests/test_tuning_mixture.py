"""Mixtures: per-meta-dataset rendering, seeded sampling, weighting, manifest, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from instr_select.errors import ConfigError, DataError
from instr_select.selection import SelectedTask, Selection
from instr_select.tuning.mixture import (
    COLUMNS,
    MIXTURE_FORMAT,
    MixtureConfig,
    build_mixture,
    build_records,
    load_mixture,
    read_task_list,
    save_mixture,
)
from instr_select.tuning.modeling import format_prompt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared builders, with or without tests/__init__.py
from test_tuning_fixtures import toy_pool  # noqa: E402


def test_rendering_per_meta_dataset():
    pool = toy_pool()
    cfg = MixtureConfig(max_per_task=5, seed=1, positive_examples=1)
    records = build_records(pool, cfg).records
    by_task = {}
    for r in records:
        by_task.setdefault(r["task_id"], []).append(r)
        assert set(COLUMNS) <= set(r)
        assert r["prompt"] == format_prompt(r["instruction"], r["input"])
        assert r["completion"] == " " + r["output"].lstrip() and not r["prompt"].endswith(" ")
    parity = by_task["parity"][0]
    assert parity["instruction"] == "Say whether the number is even."
    assert "Options:\n- yes\n- no" in parity["input"]  # multiple choice keeps its options
    colors = by_task["colors"][0]
    assert "Options:" not in colors["input"] and "(A) red" in colors["input"]  # options already in the input
    niv2 = by_task["task001_label"][0]
    assert niv2["instruction"].startswith("Definition: Label the sentence.")
    assert "Positive Example 1 -\nInput: a cat\nOutput: animal" in niv2["instruction"]
    assert "Positive Example 2" not in niv2["instruction"]
    assert by_task["s1"][0]["prompt"] == "Write a haiku.\n\nOutput:"
    p3 = by_task["ag_news"][0]
    assert p3["instruction"] == "What topic? Stocks rose." and p3["output"] == "Business"
    assert "empty" not in by_task
    assert len(by_task["parity"]) == 5 and len(by_task["colors"]) == 5 and len(by_task["task001_label"]) == 5


def test_seeded_sampling_and_order_independence():
    pool = toy_pool()
    a = build_records(["bigbench:parity", "bbh:colors"], MixtureConfig(max_per_task=4, seed=3), pool=pool)
    b = build_records(["bbh:colors", "bigbench:parity"], MixtureConfig(max_per_task=4, seed=3), pool=pool)
    c = build_records(["bigbench:parity", "bbh:colors"], MixtureConfig(max_per_task=4, seed=4), pool=pool)
    key = lambda recs: sorted(json.dumps(r, sort_keys=True) for r in recs)  # noqa: E731
    assert key(a.records) == key(b.records)
    assert key(a.records) != key(c.records)
    assert a.hash == records_again(pool).hash


def records_again(pool):
    return build_records(["bigbench:parity", "bbh:colors"], MixtureConfig(max_per_task=4, seed=3), pool=pool)


def test_score_weighting():
    pool = toy_pool()
    selection = Selection(
        "retrieval-dense",
        [SelectedTask(1, "parity", "bigbench", 0.8), SelectedTask(2, "colors", "bbh", 0.2)],
        query="q",
        params={"encoder_hash": "abc", "k": 2},
    )
    mix = build_records(selection, MixtureConfig(max_per_task=8, weighting="score"), pool=pool)
    counts = {t["task_id"]: t["examples"] for t in mix.manifest["tasks"]}
    assert counts == {"parity": 8, "colors": 2}
    assert mix.manifest["hashes"] == {"encoder_hash": "abc"} and mix.manifest["query"] == "q"
    uniform = build_records(selection, MixtureConfig(max_per_task=8), pool=pool)
    assert {t["task_id"]: t["examples"] for t in uniform.manifest["tasks"]} == {"parity": 8, "colors": 8}


def test_dataset_api_columns():
    mixture = build_mixture(["bigbench:parity"], MixtureConfig(max_per_task=3), pool=toy_pool())
    ds = mixture.to_dataset()
    assert len(ds) == 3 and {"task_id", "meta_dataset", "prompt", "completion"} <= set(ds.column_names)
    assert mixture.manifest["examples"] == 3 and mixture.manifest["tasks"][0]["task_id"] == "parity"
    assert mixture.to_dataset("messages").column_names == ["messages", "task_id", "meta_dataset"]
    assert mixture.to_dataset("alpaca")[0]["output"] == ds[0]["output"]
    assert mixture.to_dataset("prompt-completion")[0]["completion"] == ds[0]["completion"]


def test_build_mixture_warns_about_tasks_without_examples():
    with pytest.warns(UserWarning, match="bigbench:empty"):
        mixture = build_mixture(["bigbench:parity", "bigbench:empty"], MixtureConfig(max_per_task=2), pool=toy_pool())
    assert mixture.tasks_without_examples == ["bigbench:empty"] and len(mixture) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_per_task": 0}, "max-per-task"),
        ({"weighting": "zipf"}, "weighting"),
        ({"positive_examples": -1}, "positive"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MixtureConfig(**kwargs)


def test_empty_and_exampleless_selections():
    pool = toy_pool()
    with pytest.raises(DataError, match="empty"):
        build_records(Selection("x", []), pool=pool)
    with pytest.raises(DataError, match="has examples"):
        build_records(["bigbench:empty"], pool=pool)
    with pytest.raises(DataError, match="META_DATASET:TASK_ID"):
        build_records(["parity"], pool=pool)


def test_task_list_files(tmp_path):
    text = tmp_path / "tasks.txt"
    text.write_text("# chosen by hand\nbigbench:parity\n\nbbh:colors  # second\n")
    assert read_task_list(text).keys == ["bigbench:parity", "bbh:colors"]
    sel = tmp_path / "sel.json"
    Selection("bm25", [SelectedTask(1, "parity", "bigbench", 3.5)], query="q").save(sel)
    assert read_task_list(sel).tasks[0].score == 3.5
    bad = tmp_path / "bad.txt"
    bad.write_text("bigbench:parity\nnocolon\n")
    with pytest.raises(DataError, match="line 2"):
        read_task_list(bad)


def test_save_load_roundtrip_and_version_guard(tmp_path):
    mix = build_records(toy_pool(), MixtureConfig(max_per_task=2))
    out = save_mixture(mix, tmp_path / "mix", formats=["alpaca"])
    loaded = load_mixture(out)
    assert loaded.records == mix.records and loaded.manifest["format"] == MIXTURE_FORMAT
    assert loaded.manifest["mixture_hash"] == mix.hash
    manifest = json.loads((out / "mixture.json").read_text())
    manifest["format"] = 99
    (out / "mixture.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="format 99"):
        load_mixture(out)
    with pytest.raises(DataError, match="mixture.json"):
        load_mixture(tmp_path)


def test_failed_save_leaves_existing_mixture(tmp_path):
    mix = build_records(toy_pool(), MixtureConfig(max_per_task=2))
    out = save_mixture(mix, tmp_path / "mix", formats=["alpaca"])
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ConfigError):
        save_mixture(mix, out, formats=["nope"])
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["mix"]
