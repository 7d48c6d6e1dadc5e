"""Task ranking: aggregation modes, exactness, filters, the leakage guard, BM25/hybrid and query()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_index_fixtures import ENTAIL, save_tiny_model, small_tasks

from instr_select.errors import ConfigError
from instr_select.index import InstructionIndex, build_index
from instr_select.retrieval import MAX_INSTRUCTION_CHARS, Retriever, query
from instr_select.retrieval.aggregate import rank_tasks


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("q")
    encoder = save_tiny_model(root / "enc", small_tasks())
    return build_index(small_tasks(), encoder, root / "index")


@pytest.fixture(scope="module")
def index(index_dir: Path) -> InstructionIndex:
    return InstructionIndex.load(index_dir)


def _order(aggregate: str) -> list[int]:
    # task 0: one strong and two weak instructions; task 1: three good ones; task 2: the single best one
    instr_task = np.array([0, 0, 0, 1, 1, 1, 2])
    scores = np.array([0.9, 0.1, 0.1, 0.85, 0.84, 0.83, 0.95], dtype=np.float32)
    order = np.argsort(-scores, kind="stable")

    def mean_of(tasks: np.ndarray) -> np.ndarray:
        return np.array([scores[instr_task == t].mean() for t in tasks], dtype=np.float32)

    ranked, done = rank_tasks(order, scores[order], instr_task, np.ones(3, bool), 3, aggregate, mean_of, True)
    assert done
    return [r.task for r in ranked]


def test_aggregation_modes_differ_as_specified() -> None:
    assert _order("max") == [2, 0, 1]  # best single instruction
    assert _order("mean") == [2, 1, 0]  # task 0's weak instructions pull its mean down
    assert _order("vote") == [1, 0, 2]  # task 1 holds three of the top five instructions
    assert _order("top2") == [2, 1, 0]  # task 0's best two average 0.5


def test_top2_scores_and_the_growing_hit_list_agree_with_the_flat_pass() -> None:
    from instr_select.retrieval.aggregate import task_scores

    scores = np.array([0.9, 0.1, 0.1, 0.85, 0.84, 0.83, 0.95, 0.2, 0.7])
    starts, counts = np.array([0, 3, 6, 7]), np.array([3, 3, 1, 2])
    np.testing.assert_allclose(task_scores(scores, starts, counts, "top2"), [0.5, 0.845, 0.95, 0.45])
    np.testing.assert_allclose(task_scores(scores, starts, counts, "mean"), [1.1 / 3, 0.84, 0.95, 0.45])


@pytest.mark.parametrize("aggregate", ["max", "mean", "top2"])
def test_dense_ranking_is_exact(index: InstructionIndex, aggregate: str) -> None:
    query_text = "Answer the question about the passage and count the words."
    vector = index.encode_queries([query_text])[0]
    sims = np.asarray(index.vectors) @ vector
    per_task = [sims[t.start : t.start + t.count] for t in index.tasks]
    reduce = {"max": np.max, "mean": np.mean, "top2": lambda s: np.sort(s)[-2:].mean()}[aggregate]
    expected_scores = np.array([reduce(s) for s in per_task])
    got = Retriever(index, "dense", aggregate).search(query_text, k=7)
    expected = [index.tasks[i].task_id for i in np.argsort(-expected_scores, kind="stable")[:7]]
    assert [r.task_id for r in got] == expected
    assert [r.rank for r in got] == list(range(1, 8))
    np.testing.assert_allclose([r.score for r in got], np.sort(expected_scores)[::-1][:7], atol=1e-5)


def test_guard_drops_the_task_and_its_source(index: InstructionIndex) -> None:
    unguarded = Retriever(index).search(ENTAIL, k=5, guard=False)
    assert unguarded[0].task_id == "rte_a" and unguarded[0].score == pytest.approx(1.0, abs=1e-5)
    guarded = [r.task_id for r in Retriever(index).search(ENTAIL, k=50)]
    assert "rte_a" not in guarded and "rte_b" not in guarded  # rte_b shares the source "RTE"
    assert "anli" in guarded


def test_exclude_source_and_filters(index: InstructionIndex) -> None:
    retriever = Retriever(index, "bm25")
    got = retriever.search("Does the hypothesis follow from the premise?", k=50, exclude_sources={"anli"})
    assert "anli" not in [r.task_id for r in got]
    got = retriever.search("translate french", k=3, exclude_keys={"toy:translate"})
    assert "translate" not in [r.task_id for r in got]
    with pytest.raises(ConfigError, match="not in the index"):
        retriever.search("translate", meta_datasets=["niv2"])


def test_lexical(index: InstructionIndex) -> None:
    got = Retriever(index, "bm25").search("translate this English sentence into French", k=3, guard=False)
    assert got[0].task_id == "translate"
    assert got[0].matched_instruction == "Translate the sentence from English to French."
    assert got[0].categories == ["translation"]


def test_hybrid_is_reciprocal_rank_fusion(index: InstructionIndex) -> None:
    from instr_select.retrieval.retriever import RRF_K

    text = "translate this English sentence into French"
    depth = len(index.tasks)
    fused: dict[str, float] = {}
    for method in ("dense", "bm25"):
        for r in Retriever(index, method).search(text, k=depth, guard=False):
            fused[r.task_id] = fused.get(r.task_id, 0.0) + 1.0 / (RRF_K + r.rank)
    got = Retriever(index, "hybrid").search(text, k=5, guard=False)
    assert [r.score for r in got] == pytest.approx(sorted(fused.values(), reverse=True)[:5], abs=1e-6)
    assert {r.task_id for r in got} <= {t for t, v in fused.items() if v >= got[-1].score - 1e-9}
    assert "translate" in [r.task_id for r in got]  # first for BM25, so near the top of the fusion


def test_search_many_matches_search(index: InstructionIndex) -> None:
    retriever = Retriever(index, "dense", "vote")
    texts = ["count objects in the list", "write a poem that rhymes"]
    assert retriever.search_many(texts, k=4) == [retriever.search(t, k=4) for t in texts]


@pytest.mark.parametrize(
    ("instruction", "k", "message"),
    [
        ("", 5, "empty"),
        ("  \n ", 5, "empty"),
        ("x" * (MAX_INSTRUCTION_CHARS + 1), 5, "limit of 100,000"),
        ("fine", 0, "at least 1"),
        ("fine", -3, "at least 1"),
    ],
)
def test_bad_queries(index: InstructionIndex, instruction: str, k: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Retriever(index).search(instruction, k=k)


def test_python_api(index_dir: Path, tmp_path: Path) -> None:
    selection = query("Decide whether a sentence follows", index=index_dir, k=3, exclude_source_of="toy:anli")
    assert selection.selector == "retrieval-dense" and len(selection.tasks) == 3
    assert "anli" not in [t.task_id for t in selection.tasks]
    assert selection.params["k"] == 3 and selection.target == "toy:anli"
    saved = selection.save(tmp_path / "sel.json")
    from instr_select.selection import Selection

    assert Selection.load(saved).keys == selection.keys
    with pytest.raises(ConfigError, match="not a task of the index"):
        query("anything", index=index_dir, exclude_source_of="no_such_task")


@pytest.mark.parametrize("aggregate", ["mean", "top2"])
def test_means_on_an_approximate_index_match_the_flat_pass(index: InstructionIndex, tmp_path, aggregate: str) -> None:
    hnsw = InstructionIndex.load(
        build_index(
            small_tasks(), save_tiny_model(tmp_path / "enc", small_tasks()), tmp_path / "hnsw", factory="HNSW32"
        )
    )
    assert not hnsw.exact and index.exact
    text = "Answer the question about the passage and count the words."
    grown = Retriever(hnsw, "dense", aggregate).search(text, k=7, guard=False)
    flat = Retriever(index, "dense", aggregate).search(text, k=7, guard=False)
    assert [r.task_id for r in grown] == [r.task_id for r in flat]
    np.testing.assert_allclose([r.score for r in grown], [r.score for r in flat], atol=1e-5)
