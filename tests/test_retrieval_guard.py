"""The leakage guard made visible and switchable, tasks without examples marked, model2vec folders read without torch."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_index_fixtures import ENTAIL, save_tiny_model, small_tasks

from instr_select.index import build_index
from instr_select.tasks import Example, TaskCollection


def tasks_with_examples() -> TaskCollection:
    """small_tasks, where only the entailment task anli ships examples."""
    out = []
    for task in small_tasks():
        if task.task_id == "anli":
            task = replace(task, _examples=[Example("Premise: a. Hypothesis: b.", "yes")])
        out.append(task)
    return TaskCollection(out)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("guard")
    encoder = save_tiny_model(root / "enc", small_tasks())
    return build_index(tasks_with_examples(), encoder, root / "index")


def test_guard_is_reported_and_can_be_turned_off(cli, index_dir: Path) -> None:
    guarded = json.loads(cli("query", ENTAIL, "--index", str(index_dir), "-k", "5", "--json").out)
    assert guarded["guard"] == {
        "on": True,
        "recognised_as": "toy:rte_a",
        "excluded_sources": ["rte"],
        "excluded_tasks": 2,  # rte_a and rte_b share the source RTE/rte
    }
    assert not {"rte_a", "rte_b"} & {r["task_id"] for r in guarded["tasks"]}
    no_guard = ("--json", "--no-guard", "--aggregate", "max", "--answer-fit", "0")
    result = cli("query", ENTAIL, "--index", str(index_dir), "-k", "5", *no_guard)
    open_ = json.loads(result.out)
    assert open_["guard"] == {"on": False}
    assert open_["tasks"][0]["task_id"] == "rte_a"  # its own instruction: score 1
    table = cli("query", ENTAIL, "--index", str(index_dir), "-k", "3").out
    assert "guard: the query is an instruction of toy:rte_a; left out 2 task(s) of source rte" in table


def test_tasks_without_examples_are_marked_and_can_be_skipped(cli, index_dir: Path) -> None:
    query = "Does the premise entail the hypothesis?"
    table = cli("query", query, "--index", str(index_dir), "-k", "3").out
    rows = [line for line in table.splitlines() if line[:4].strip().isdigit()]
    marked = {line.split()[3].rstrip("*"): "*" in (line.split()[3] + line.split()[4]) for line in rows}
    assert marked.pop("anli") is False and all(marked.values())
    assert "* no examples" in table
    only = json.loads(cli("query", query, "--index", str(index_dir), "-k", "3", "--json", "--examples-only").out)
    assert [r["task_id"] for r in only["tasks"]] == ["anli"]  # the one task with examples
    assert only["tasks"][0]["has_examples"] is True


def test_python_api_guard_and_warning(index_dir: Path) -> None:
    from instr_select.retrieval import query
    from instr_select.retrieval.defaults import DEFAULT_AGGREGATE

    with pytest.warns(UserWarning, match="have no examples to train on"):
        selection = query(ENTAIL, index=index_dir, k=3)
    assert selection.params["guard"]["recognised_as"] == "toy:rte_a"
    assert "toy:rte_a" not in [t.key for t in selection.tasks]
    with pytest.warns(UserWarning):
        unguarded = query(ENTAIL, index=index_dir, k=3, guard=False, aggregate="max")
    assert unguarded.tasks[0].key == "toy:rte_a" and unguarded.params["guard"] == {"on": False}
    assert unguarded.params["aggregate"] == "max" and selection.params["aggregate"] == DEFAULT_AGGREGATE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chosen = query(ENTAIL, index=index_dir, k=3, examples_only=True)
    assert [t.key for t in chosen.tasks] == ["toy:anli"]


def test_model2vec_folder_matches_static_model(tmp_path: Path) -> None:
    from model2vec import StaticModel

    from instr_select.encoder.vocab import train_wordpiece
    from instr_select.index.static import NumpyStaticEncoder, is_model2vec_dir

    texts = [t for task in small_tasks() for t in task.instructions]
    tokenizer = train_wordpiece(texts, vocab_size=300)
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 8)).astype(np.float32)
    StaticModel(vectors, tokenizer, normalize=True).save_pretrained(str(tmp_path / "m2v"))
    assert is_model2vec_dir(tmp_path / "m2v")
    ours = NumpyStaticEncoder.from_model_dir(tmp_path / "m2v")
    queries = [ENTAIL, "Ünïcödé ☃ symbols the model never saw", "x " * 600, ""]
    expected = StaticModel.from_pretrained(str(tmp_path / "m2v")).encode(queries)
    np.testing.assert_allclose(ours.encode(queries), expected, atol=1e-5)
    ours.save(tmp_path / "saved")  # the index's static/ folder keeps the unknown-token and length rules
    np.testing.assert_allclose(
        NumpyStaticEncoder.load(tmp_path / "saved", normalize=True).encode(queries), expected, atol=1e-5
    )


def test_unknown_registry_name_is_one_line(cli, tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "idx"
    result = cli("build-index", "self_instruct", "--out", str(out), "--encoder", "no-such-model")
    assert result.code == 2 and "unknown model 'no-such-model'" in result.err and "minilm" in result.err
    assert "Traceback" not in result.err and not out.exists()


def test_add_with_another_encoder_is_refused(cli, index_dir: Path, tmp_path: Path, data_dir: Path) -> None:
    other = save_tiny_model(tmp_path / "other", small_tasks(), seed=1)
    before = {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()}
    result = cli("build-index", "--add", "self_instruct", "--out", str(index_dir), "--encoder", str(other))
    assert result.code == 2 and "index was built with encoder" in result.err and len(result.err.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()} == before
