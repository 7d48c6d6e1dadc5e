"""Alignment training on a toy collection and the train-encoder command's errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_encoder_build import toy_tasks  # noqa: E402

from instr_select.errors import ConfigError, DataError
from instr_select.tasks import Task, TaskCollection


def test_training_reduces_loss_and_writes_st_model(tmp_path):
    from instr_select.encoder import AlignConfig, encoder_hash, load_encoder, train_encoder

    lines: list[str] = []
    config = AlignConfig(epochs=3, batch_size=4, vocab_size=200, dim=16, dev_fraction=0.5, seed=0)
    out = train_encoder(toy_tasks(per_task=6), None, tmp_path / "enc", config, progress=lines.append)
    info = json.loads((out / "training_info.json").read_text())
    losses = [h["loss"] for h in info["history"] if "loss" in h]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    assert info["dev_queries"] == 3 and info["recipe"] == "mnrl" and info["config"]["epochs"] == 3
    assert info["text_view"] == "readable"  # what the index built on it will apply to instructions and queries
    assert any("dev after epoch" in line for line in lines)  # progress is reported
    assert (out / "modules.json").is_file()
    model = load_encoder(out)
    assert model.encode(["summarize the article"]).shape == (1, 16)
    assert len(encoder_hash(out)) == 64


def test_one_epoch_is_scored_on_dev_without_checkpoints(tmp_path, monkeypatch):
    """With one epoch there is no best epoch to choose: no per-epoch evaluation, no checkpoint."""
    import sentence_transformers

    from instr_select.encoder import AlignConfig, train_encoder

    saved: list[str] = []
    original = sentence_transformers.SentenceTransformerTrainer._save_checkpoint
    monkeypatch.setattr(
        sentence_transformers.SentenceTransformerTrainer,
        "_save_checkpoint",
        lambda self, *a, **k: saved.append("checkpoint") or original(self, *a, **k),
    )
    config = AlignConfig(epochs=1, batch_size=4, vocab_size=200, dim=16, dev_fraction=0.5, seed=0)
    out = train_encoder(toy_tasks(per_task=6), None, tmp_path / "enc", config)
    info = json.loads((out / "training_info.json").read_text())
    assert not saved and info["best_checkpoint"] is None
    assert info["dev_before"] and info["dev_best"]  # still measured before and after
    assert not any("eval_dev_cosine_mrr@10" in h for h in info["history"])
    config = AlignConfig(epochs=2, batch_size=4, vocab_size=200, dim=16, dev_fraction=0.5, seed=0)
    info = json.loads(
        (train_encoder(toy_tasks(per_task=6), None, tmp_path / "enc2", config) / "training_info.json").read_text()
    )
    assert saved and info["best_checkpoint"]  # two epochs: the better one is kept


def test_insta_recipe_trains(tmp_path):
    from instr_select.encoder import AlignConfig, train_encoder

    config = AlignConfig(recipe="insta", epochs=1, batch_size=8, vocab_size=200, dim=8, dev_fraction=0.0)
    out = train_encoder(toy_tasks(), None, tmp_path / "enc", config)
    info = json.loads((out / "training_info.json").read_text())
    assert info["pairs"]["positive_pairs"] == round(0.4 * info["pairs"]["positive_pairs_all"])


def test_no_pairs_is_a_data_error(tmp_path):
    from instr_select.encoder import AlignConfig, train_encoder

    tasks = TaskCollection([Task(task_id=f"t{i}", meta_dataset="x", instructions=[f"task {i}"]) for i in range(4)])
    with pytest.raises(DataError, match="no positive pairs"):
        train_encoder(tasks, None, tmp_path / "enc", AlignConfig())
    assert not (tmp_path / "enc").exists()


def test_saved_aligned_model_is_the_trained_one(tmp_path):
    """The directory written is the trained model (not the restored base): its weights and its
    rankings differ from the base's, and the numpy query path reads exactly those weights."""
    import numpy as np

    from instr_select.encoder import AlignConfig, build_static_encoder, load_encoder, train_encoder
    from instr_select.encoder.pairs import positive_groups, split_dev
    from instr_select.index.static import NumpyStaticEncoder

    tasks = toy_tasks(per_task=6)
    config = AlignConfig(
        epochs=2, batch_size=4, vocab_size=200, dim=16, dev_fraction=0.5, group_by="task", mnrl_directions="all"
    )
    split = split_dev(positive_groups(tasks, "task"), config.dev_fraction, seed=config.seed)
    base = build_static_encoder(split.train_texts, config.vocab_size, config.dim, config.seed)
    base.save(str(tmp_path / "base"))
    out = train_encoder(tasks, tmp_path / "base", tmp_path / "enc", config)
    before = base[0].embedding.weight.detach().numpy()
    after = load_encoder(out)[0].embedding.weight.detach().numpy()
    assert after.shape == before.shape and not np.allclose(after, before, atol=1e-4)
    numpy_path = NumpyStaticEncoder.from_model_dir(out)
    assert np.allclose(numpy_path.matrix, after)
    texts = [t for task in tasks for t in task.instructions]

    def sims(encoder):
        vectors = encoder.encode(texts)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors @ vectors.T

    assert not np.allclose(sims(numpy_path), sims(NumpyStaticEncoder.from_model(base)), atol=1e-3)
    info = json.loads((out / "training_info.json").read_text())
    assert info["config"]["group_by"] == "task" and info["config"]["mnrl_directions"] == "all"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"epochs": -1},
        {"batch_size": 1},
        {"recipe": "x"},
        {"learning_rate": -1.0},
        {"group_by": "x"},
        {"mnrl_directions": "x"},
        {"pre_tokenizer": "x"},
        {"pairs_per_instruction": 0},
        {"length_chunks": 0},
        {"task_group_repeats": 0},
        {"task_groups": "bbh:snarks"},
        {"task_groups": [["bbh:snarks"]]},
        {"task_groups": [["bbh:snarks", 3]]},
        {"shared_source_repeats": -1},
        {"shared_source_repeats": 1.5},
        {"shared_source_repeats": True},
    ],
)
def test_bad_config(kwargs):
    from instr_select.encoder import AlignConfig

    with pytest.raises(ConfigError):
        AlignConfig(**kwargs).validate()


def _jsonl_source(tmp_path, rows):
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"jsonl={path}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "-1"], "--epochs must be 1 or more"),
        (["--batch-size", "1"], "--batch-size must be 2 or more"),
        (["--base-model", "no/such/model"], "unknown model 'no/such/model': not a registry name"),
        (["--positives", "0"], "--positives must be 1 or more"),
    ],
)
def test_cli_bad_input_exits_2(cli, tmp_path, args, message):
    result = cli("train-encoder", "bbh", "--out", str(tmp_path / "o"), *args)
    assert result.code == 2, result.err
    assert message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_single_instruction_tasks_exit_2(cli, tmp_path):
    rows = [{"task_id": f"t{i}", "instruction": f"do thing number {i}", "source": f"s{i}"} for i in range(5)]
    result = cli("train-encoder", _jsonl_source(tmp_path, rows), "--out", str(tmp_path / "o"))
    assert result.code == 2 and "no positive pairs" in result.err and "Traceback" not in result.err


def test_task_groups_add_positive_pairs_across_tasks(tmp_path):
    """Listed task groups become extra positives (each copy under its own key); the pairs are trained on."""
    from instr_select.encoder import AlignConfig, train_encoder
    from instr_select.encoder.pairs import listed_groups, mnrl_pairs

    tasks = toy_tasks(per_task=3)
    groups = listed_groups(tasks, [["toy:sentiment", "toy:nli"]], repeats=2)
    assert [g.key for g in groups] == ["listed:0:0", "listed:0:1"]
    assert groups[0].texts == tasks.get("toy:sentiment").instructions + tasks.get("toy:nli").instructions
    pairs = mnrl_pairs(groups, per_instruction=1)
    crossing = [
        (a, p) for a, p in zip(pairs["anchor"], pairs["positive"], strict=True)
        if (a in tasks.get("toy:sentiment").instructions) != (p in tasks.get("toy:sentiment").instructions)
    ]  # fmt: skip
    assert crossing  # some positives pair one task's instruction with the other's

    base = dict(
        epochs=1, batch_size=4, vocab_size=200, dim=16, dev_fraction=0, group_by="task", pairs_per_instruction=1
    )
    plain = json.loads(
        (train_encoder(tasks, None, tmp_path / "a", AlignConfig(**base)) / "training_info.json").read_text()
    )
    config = AlignConfig(**base, task_groups=[["toy:sentiment", "toy:nli"]], task_group_repeats=2)
    info = json.loads((train_encoder(tasks, None, tmp_path / "b", config) / "training_info.json").read_text())
    assert info["pairs"]["pairs"] == plain["pairs"]["pairs"] + 2 * 6  # two copies of a 6-instruction group
    assert info["config"]["task_groups"] == [["toy:sentiment", "toy:nli"]]


def test_task_groups_naming_unknown_tasks_is_a_config_error():
    from instr_select.encoder.pairs import listed_groups

    with pytest.raises(ConfigError, match="niv2:nope"):
        listed_groups(toy_tasks(), [["toy:sentiment", "niv2:nope"]])


def test_shared_source_groups_pair_meta_datasets(tmp_path):
    """A source dataset in two meta-datasets becomes one extra group across them; one in a single
    meta-dataset does not; the groups are trained on and recorded."""
    from dataclasses import replace

    from instr_select.encoder import AlignConfig, train_encoder
    from instr_select.encoder.pairs import shared_source_groups
    from instr_select.tasks import TaskCollection

    toy = list(toy_tasks(per_task=3))
    other = [replace(toy[0], meta_dataset="other", instructions=["Rate the feeling of the review."])]
    tasks = TaskCollection(toy + other)
    groups = shared_source_groups(tasks, repeats=2)
    source = toy[0].source_key
    assert [g.key for g in groups] == [f"shared:{source}:0", f"shared:{source}:1"]
    assert groups[0].texts == other[0].instructions + toy[0].instructions  # tasks in key order
    assert groups[0].task_keys == [other[0].key, toy[0].key]
    assert shared_source_groups(TaskCollection(toy)) == []  # one meta-dataset: nothing to pair

    base = dict(
        epochs=1, batch_size=4, vocab_size=200, dim=16, dev_fraction=0, group_by="task", pairs_per_instruction=1
    )
    plain = json.loads(
        (train_encoder(tasks, None, tmp_path / "a", AlignConfig(**base)) / "training_info.json").read_text()
    )
    config = AlignConfig(**base, shared_source_repeats=2)
    info = json.loads((train_encoder(tasks, None, tmp_path / "b", config) / "training_info.json").read_text())
    assert info["pairs"]["pairs"] == plain["pairs"]["pairs"] + 2 * 4  # two copies of a 4-instruction group
    assert info["config"]["shared_source_repeats"] == 2
