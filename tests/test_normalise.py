"""Scores normalised within each meta-dataset: the arithmetic, the Retriever and the candidate settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_index_fixtures import ENTAIL, save_tiny_model, small_tasks

from instr_select.errors import ConfigError
from instr_select.evaluation.candidates import Setting, method_label, parse_method
from instr_select.index import InstructionIndex, build_index
from instr_select.retrieval import Retriever
from instr_select.retrieval.normalise import check_normalise, group_codes, normalised
from instr_select.tasks import TaskCollection


def two_meta_tasks() -> TaskCollection:
    """The small tasks split between two meta-datasets (every other task in ``beta``)."""
    tasks = list(small_tasks())
    for i, task in enumerate(tasks):
        task.meta_dataset = "beta" if i % 2 else "alpha"
    return TaskCollection(tasks)


@pytest.fixture(scope="module")
def mixed_index(tmp_path_factory) -> InstructionIndex:
    root = tmp_path_factory.mktemp("normalise")
    tasks = two_meta_tasks()
    return InstructionIndex.load(build_index(tasks, save_tiny_model(root / "enc", tasks), root / "index"))


def test_normalised_arithmetic() -> None:
    scores = np.array([1.0, 3.0, 10.0, 20.0, 30.0, 5.0])
    groups = group_codes(np.array(["a", "a", "b", "b", "b", "c"], dtype=object))
    assert groups.tolist() == [0, 0, 1, 1, 1, 2]
    assert normalised(scores, groups, "none").tolist() == scores.tolist()
    centred = normalised(scores, groups, "centre")
    assert centred.tolist() == pytest.approx([-1.0, 1.0, -10.0, 0.0, 10.0, 0.0])
    z = normalised(scores, groups, "z")
    spread = np.std([10.0, 20.0, 30.0])
    assert z.tolist() == pytest.approx([-1.0, 1.0, -10 / spread, 0.0, 10 / spread, 0.0])  # a group of one: 0
    assert normalised(np.array([2.0, 2.0]), np.array([0, 0]), "z").tolist() == [0.0, 0.0]  # no spread: 0


def test_bad_names() -> None:
    for bad in ("zscore", "", None, "Z"):
        with pytest.raises(ConfigError, match="unknown normalise"):
            check_normalise(bad)


def _raw_task_scores(index: InstructionIndex, text: str, method: str, aggregate: str) -> dict[str, float]:
    ranked = Retriever(index, method, aggregate).search(text, k=len(index.tasks), guard=False)
    return {r.key: r.score for r in ranked}


@pytest.mark.parametrize(("method", "aggregate"), [("dense", "max"), ("dense", "top2"), ("bm25", "max")])
@pytest.mark.parametrize("how", ["centre", "z"])
def test_retriever_scores_each_task_against_its_meta_dataset(
    mixed_index: InstructionIndex, method: str, aggregate: str, how: str
) -> None:
    raw = _raw_task_scores(mixed_index, ENTAIL, method, aggregate)
    meta = {t.key: t.meta_dataset for t in mixed_index.tasks}
    expected = {}
    for name in ("alpha", "beta"):
        values = np.array([v for key, v in raw.items() if meta[key] == name])
        for key, value in raw.items():
            if meta[key] == name:
                expected[key] = (value - values.mean()) / (values.std() if how == "z" else 1.0)
    ranked = Retriever(mixed_index, method, aggregate, normalise=how).search(ENTAIL, k=len(raw), guard=False)
    assert {r.key: r.score for r in ranked} == pytest.approx(expected, abs=1e-5)
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    best = {name: max(r.score for r in ranked if r.meta_dataset == name) for name in ("alpha", "beta")}
    assert min(best.values()) > 0  # each meta-dataset's best task is above its meta-dataset's mean


def test_a_filter_does_not_change_the_scores_it_keeps(mixed_index: InstructionIndex) -> None:
    retriever = Retriever(mixed_index, "dense", "top2", normalise="z")
    every = {r.key: r.score for r in retriever.search(ENTAIL, k=len(mixed_index.tasks), guard=False)}
    beta = retriever.search(ENTAIL, k=5, meta_datasets=["beta"], guard=False)
    assert all(r.meta_dataset == "beta" for r in beta)
    assert {r.key: r.score for r in beta} == pytest.approx({r.key: every[r.key] for r in beta})


def test_one_meta_dataset_ranks_as_without(tmp_path: Path) -> None:
    tasks = small_tasks()
    index = InstructionIndex.load(build_index(tasks, save_tiny_model(tmp_path / "enc", tasks), tmp_path / "index"))
    plain = [r.key for r in Retriever(index, "dense", "top2").search(ENTAIL, k=10, guard=False)]
    for how in ("centre", "z"):
        norm = Retriever(index, "dense", "top2", normalise=how).search(ENTAIL, k=10, guard=False)
        assert [r.key for r in norm] == plain


def test_vote_is_refused(mixed_index: InstructionIndex) -> None:
    with pytest.raises(ConfigError, match="normalise needs a score per task"):
        Retriever(mixed_index, "dense", "vote", normalise="z")
    Retriever(mixed_index, "dense", "vote")  # without normalising, vote stays


def test_settings_of_the_candidate_table() -> None:
    assert parse_method("dense") == Setting()
    assert parse_method("hybrid top2 fit 0.5 norm z") == Setting("hybrid", "top2", 0.5, "z")
    assert parse_method("dense norm centre") == Setting("dense", "max", 0.0, "centre")
    assert method_label("minilm", "dense top2 fit 0.5 norm z") == "minilm, top2, answer fit 0.5, normalised (z)"
