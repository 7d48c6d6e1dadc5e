"""Loaders return what the real shared data holds."""

from __future__ import annotations

import json

import pytest

from instr_select.loaders import load_source, load_sources
from instr_select.tasks import normalize_source


def test_promptsource_counts(data_dir):
    tasks = load_source("promptsource", data_dir=data_dir)
    assert len(tasks) == 279
    assert sum(len(t.instructions) for t in tasks) == 1816
    rte = tasks.get("promptsource:super_glue/rte")
    assert rte.source == "rte"
    assert any("{{premise}}" in text for text in rte.instructions)
    assert rte.metadata["answer_choices"][0] == "Yes ||| No"
    assert len(rte.metadata["template_names"]) == len(rte.instructions)
    assert rte.examples == []  # offline: instruction-only
    # A hub user namespace is part of the dataset name, not a collection of subsets.
    coqa, quac = tasks.get("promptsource:Zaid/coqa_expanded"), tasks.get("promptsource:Zaid/quac_expanded")
    assert coqa.metadata["dataset"] == "Zaid/coqa_expanded" and coqa.metadata["subset"] is None
    assert (coqa.source, quac.source) == ("coqa_expanded", "quac_expanded")
    assert tasks.get("promptsource:cbt/CN").source_key == tasks.get("promptsource:cbt/NE").source_key == "cbt"


def test_bbh_counts_and_sources(data_dir):
    tasks = load_source("bbh", data_dir=data_dir)
    assert len(tasks) == 27
    assert sum(len(t.examples) for t in tasks) == 6511
    date = tasks.get("bbh:date_understanding")
    assert date.instructions[0] == "Infer the date from context."
    assert date.examples[0].options[:2] == ("(A)", "(B)")
    assert date.examples[0].output in date.examples[0].options
    assert tasks.get("bbh:logical_deduction_five_objects").source == "logical_deduction"
    assert tasks.get("bbh:temporal_sequences").instructions[0].startswith("Answer questions about which times")
    assert set(tasks.get("bbh:navigate").examples[0].options) == {"Yes", "No"}
    assert tasks.get("bbh:word_sorting").examples[0].options == ()


def test_self_instruct_counts(data_dir):
    tasks = load_source("self_instruct", data_dir=data_dir)
    seeds = tasks.filter(split="seed")
    assert len(seeds) == 175
    assert len(tasks.filter(split="user_oriented")) == 252
    assert sum(1 for t in seeds if t.categories == ["classification"]) == sum(
        json.loads(line)["is_classification"] for line in (data_dir / "self_instruct/seed_tasks.jsonl").open()
    )


def test_bigbench_tasks_and_subtasks(data_dir):
    tasks = load_source("bigbench", data_dir=data_dir)
    assert len(tasks.filter(split="task")) == 167
    subtasks = tasks.filter(split="subtask")
    assert len(subtasks) == 874
    assert sum(len(t.examples) for t in tasks) == 6060 + 33496
    sub = tasks.get("bigbench:abstract_narrative_understanding/4_distractors")
    assert sub.source == "abstract_narrative_understanding"
    first = sub.examples[0]
    assert len(first.options) == 5 and first.output == "A soft answer turneth away wrath"
    assert sum(1 for t in tasks.filter(split="task") if not t.examples) == 40


def test_niv2_catalog_files_and_splits(data_dir):
    tasks = load_source("niv2", data_dir=data_dir)
    assert len(tasks) == 1413
    with_files = [t for t in tasks if t.examples]
    assert len(with_files) == 24
    assert sum(len(t.examples) for t in with_files) == 949
    rte = tasks.get("niv2:task1344_glue_entailment_classification")
    assert rte.split == "test" and rte.categories == ["Textual Entailment"]
    assert rte.source == "rte" and len(rte.instructions) == 2  # Definition + catalog summary
    assert rte.metadata["positive_examples"]
    assert tasks.get("niv2:task002_quoref_answer_generation").source == "quoref"
    train = load_source("niv2", data_dir=data_dir, split="train")
    assert train and all(t.split == "train" for t in train)
    english = load_source("niv2", data_dir=data_dir, english_only="true")
    assert 0 < len(english) < len(tasks)
    assert all(set(t.metadata["input_language"]) == {"English"} for t in english)


def test_leakage_sources_line_up_across_meta_datasets(data_dir):
    tasks = load_sources(["bbh", "bigbench"], data_dir=data_dir)
    bbh = tasks.get("bbh:tracking_shuffled_objects_three_objects")
    parents = [t for t in tasks.filter(meta_dataset="bigbench") if t.source_key == bbh.source_key]
    assert parents, "a BBH task's BIG-bench parent must share its source key"
    assert normalize_source("Super_GLUE") == "superglue"


@pytest.mark.parametrize("source", ["niv2", "promptsource", "bigbench", "bbh", "self_instruct"])
def test_inspect_every_shared_folder(cli, data_dir, source):
    result = cli("inspect", source, "--json", "--data-dir", str(data_dir))
    assert result.code == 0, result.err
    counts = json.loads(result.out)
    assert counts["tasks"] == len(load_source(source, data_dir=data_dir))
    assert counts["instructions"] >= counts["tasks"]


def test_data_dir_from_environment(cli, data_dir, tmp_path):
    import os

    env = {**os.environ, "INSTR_SELECT_DATA": str(data_dir)}
    assert cli("inspect", "bbh", "--json", env=env, cwd=tmp_path).code == 0
    env["INSTR_SELECT_DATA"] = str(tmp_path / "nowhere")
    result = cli("inspect", "bbh", env=env, cwd=tmp_path)
    assert result.code == 2 and "nowhere" in result.err and "Traceback" not in result.err
