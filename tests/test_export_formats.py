"""Each export format loads in the library that consumes it, with the fields its docs name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from instr_select.tuning.export import FILE_NAMES
from instr_select.tuning.mixture import MixtureConfig, build_records, save_mixture

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared builders, with or without tests/__init__.py
from test_tuning_fixtures import toy_pool  # noqa: E402


@pytest.fixture(scope="module")
def mixture_dir(tmp_path_factory):
    mix = build_records(toy_pool(), MixtureConfig(max_per_task=3, seed=0))
    out = tmp_path_factory.mktemp("export") / "mix"
    save_mixture(mix, out, formats=["alpaca", "messages", "prompt-completion", "hf"], llama_factory="toy_mix")
    return out, mix


def _load_json(path):
    import datasets

    return datasets.load_dataset("json", data_files=str(path), split="train")


def test_hf_directory_loads_from_disk(mixture_dir):
    import datasets

    out, mix = mixture_dir
    ds = datasets.load_from_disk(str(out / "hf"))
    assert len(ds) == len(mix.records)
    assert ds[0] == mix.records[0]


def test_alpaca_jsonl(mixture_dir):
    out, mix = mixture_dir
    ds = _load_json(out / FILE_NAMES["alpaca"])
    assert set(ds.column_names) == {"instruction", "input", "output", "task_id", "meta_dataset"}
    assert ds["output"] == [r["output"] for r in mix.records]
    assert set(ds["meta_dataset"]) == {"bigbench", "bbh", "niv2", "self_instruct", "promptsource"}


def test_messages_jsonl_is_trl_conversational(mixture_dir):
    out, mix = mixture_dir
    ds = _load_json(out / FILE_NAMES["messages"])
    assert {"messages", "task_id", "meta_dataset"} == set(ds.column_names)
    for row, record in zip(ds, mix.records, strict=True):
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["messages"][1]["content"] == record["output"]
        assert record["instruction"] in row["messages"][0]["content"]


def test_prompt_completion_jsonl_is_trl_standard(mixture_dir):
    out, mix = mixture_dir
    ds = _load_json(out / FILE_NAMES["prompt-completion"])
    assert {"prompt", "completion", "task_id", "meta_dataset"} == set(ds.column_names)
    row = ds[0]
    assert row["prompt"] == mix.records[0]["prompt"] and row["completion"] == " " + mix.records[0]["output"]


def test_llama_factory_dataset_info(mixture_dir):
    out, _ = mixture_dir
    info = json.loads((out / "dataset_info.json").read_text())
    alpaca = info["toy_mix"]
    assert alpaca["file_name"] == "alpaca.jsonl" and (out / alpaca["file_name"]).is_file()
    rows = [json.loads(line) for line in (out / alpaca["file_name"]).read_text().splitlines()]
    assert all(set(alpaca["columns"].values()) <= set(r) for r in rows)  # prompt/query/response columns exist
    assert set(alpaca["columns"]) == {"prompt", "query", "response"}
    chat = info["toy_mix_messages"]
    assert chat["formatting"] == "sharegpt" and chat["columns"] == {"messages": "messages"}
    first = json.loads((out / chat["file_name"]).read_text().splitlines()[0])
    tags = chat["tags"]
    assert first["messages"][0][tags["role_tag"]] == tags["user_tag"]
    assert first["messages"][1][tags["role_tag"]] == tags["assistant_tag"]
    assert tags["content_tag"] in first["messages"][0]


def test_manifest_lists_files_and_counts(mixture_dir):
    out, mix = mixture_dir
    manifest = json.loads((out / "mixture.json").read_text())
    assert {
        "records.jsonl",
        "alpaca.jsonl",
        "messages.jsonl",
        "prompt_completion.jsonl",
        "hf",
        "dataset_info.json",
    } <= set(manifest["files"])
    assert sum(t["examples"] for t in manifest["tasks"]) == manifest["examples"] == len(mix.records)
    assert manifest["config"]["seed"] == 0 and manifest["tasks_without_examples"] == ["bigbench:empty"]
