"""The held-out splits of the candidate benchmark: nothing held out reaches alignment, dev and test are disjoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from instr_select.evaluation.candidates import FORMAT_KEYWORDS, prepare_splits, score_index


@pytest.fixture(scope="module")
def splits(data_dir: Path):
    return prepare_splits(data_dir, seed=0)


def test_no_held_out_text_reaches_alignment(splits) -> None:
    benches = {b.name: b for b in splits.benchmarks}
    assert set(benches) == {
        "p3-dataset", "niv2-category", "bigbench-keyword", "p3-mixed", "niv2-definition", "bbh-mixed", "niv2-to-p3"
    }  # fmt: skip
    train_texts = {text for task in splits.train for text in task.instructions}
    index_texts = {(task.key, text) for task in splits.index for text in task.instructions}
    for query in benches["p3-dataset"].queries:
        assert (query.task_key, query.text) not in index_texts  # the held-out template left its task
        assert query.relevant and all(key.startswith("promptsource:") for key in query.relevant)
    train_keys = {task.key for task in splits.train}
    for name in ("niv2-category", "bigbench-keyword"):
        for query in benches[name].queries:
            assert query.task_key not in train_keys and query.task_key in query.exclude_keys
            assert not set(query.relevant) & set(query.exclude_keys)
            assert not set(query.exclude_keys) & train_keys  # its whole source is unseen by alignment
    assert len(splits.train) < len(splits.index) and train_texts
    for query in benches["niv2-definition"].queries:  # a Definition never reaches alignment
        assert query.text not in train_texts and query.exclude_keys == (query.task_key,)
    assert not {task.key for task in splits.index} & {q.task_key for q in benches["bbh-mixed"].queries}


def test_query_style_and_bbh_queries(splits) -> None:
    benches = {b.name: b for b in splits.benchmarks}
    by_key = {task.key: task for task in splits.index}
    definitions = benches["niv2-definition"].queries
    assert len(definitions) >= 20 and benches["niv2-definition"].meta_dataset == "niv2"
    for query in definitions:
        task = by_key[query.task_key]
        assert query.text == task.instructions[0] and "file" in task.metadata  # the Definition, not the summary
        assert all(set(by_key[key].categories) & set(task.categories) for key in query.relevant)
    bbh = benches["bbh-mixed"]
    assert bbh.meta_dataset is None and len(bbh.queries) >= 20
    navigate = next(q for q in bbh.queries if q.task_key == "bbh:navigate")
    assert navigate.relevant["bigbench:navigate"] == 2
    deduction = next(q for q in bbh.queries if q.task_key == "bbh:logical_deduction_three_objects")
    parents = [key for key, grade in deduction.relevant.items() if grade == 2]
    assert parents and all(key.startswith("bigbench:logical_deduction") for key in parents)
    assert all(key.startswith("bigbench:") for key in deduction.relevant)


def test_mixed_p3_queries_search_the_whole_index_with_every_task_of_their_dataset(splits) -> None:
    benches = {b.name: b for b in splits.benchmarks}
    single, mixed = benches["p3-dataset"], benches["p3-mixed"]
    assert mixed.meta_dataset is None and single.meta_dataset == "promptsource"
    assert [q.text for q in mixed.queries] == [q.text for q in single.queries]
    source = {task.key: task.source_key for task in splits.index}
    across = 0
    for one, both in zip(single.queries, mixed.queries, strict=True):
        assert set(one.relevant) <= set(both.relevant)  # the P3 subsets, and more
        assert {source[key] for key in both.relevant} == {source[one.task_key]}
        across += any(not key.startswith("promptsource:") for key in both.relevant)
    assert across > 10  # e.g. NIV2 tasks made from the same dataset
    assert splits.dev["p3-mixed"] == {
        "m" + q.query_id[1:] for q in single.queries if q.query_id in splits.dev["p3-dataset"]
    }


def test_niv2_summaries_query_the_p3_tasks_of_their_unseen_source(splits) -> None:
    bench = next(b for b in splits.benchmarks if b.name == "niv2-to-p3")
    assert bench.meta_dataset is None and len(bench.queries) >= 30
    by_key = {task.key: task for task in splits.index}
    train_keys = {task.key for task in splits.train}
    niv2_of = {}
    for task in splits.index:
        if task.meta_dataset == "niv2":
            niv2_of.setdefault(task.source_key, set()).add(task.key)
    for query in bench.queries:
        task = by_key[query.task_key]
        assert task.meta_dataset == "niv2" and query.text == task.instructions[0]
        assert query.task_key not in train_keys and not set(query.exclude_keys) & train_keys  # unseen source
        assert set(query.exclude_keys) == niv2_of[task.source_key]  # its own dataset's NIV2 tasks are left out
        assert query.relevant and all(key.startswith("promptsource:") for key in query.relevant)
        assert {by_key[key].source_key for key in query.relevant} == {task.source_key}


def test_dev_and_test_parts_split_every_benchmark(splits, data_dir: Path) -> None:
    for bench in splits.benchmarks:
        dev, test = splits.part(bench, "dev"), splits.part(bench, "test")
        assert dev and test and len(dev) + len(test) == len(bench.queries)
        assert not {q.query_id for q in dev} & {q.query_id for q in test}
    again = prepare_splits(data_dir, seed=0)
    assert again.dev == splits.dev and [len(b.queries) for b in again.benchmarks] == [
        len(b.queries) for b in splits.benchmarks
    ]


def test_bigbench_relevance_ignores_format_keywords(splits) -> None:
    bench = next(b for b in splits.benchmarks if b.name == "bigbench-keyword")
    by_key = {task.key: task for task in splits.index}
    for query in bench.queries[:20]:
        content = set(by_key[query.task_key].categories) - FORMAT_KEYWORDS
        for key in list(query.relevant)[:5]:
            assert content & set(by_key[key].categories)


def test_bm25_scores_are_measured_on_both_parts(splits) -> None:
    from test_index_fixtures import tiny_static_model

    from instr_select.index import InstructionIndex

    texts = [text for task in splits.index for text in task.instructions]
    index = InstructionIndex.from_tasks(splits.index, tiny_static_model(texts[:3000], dim=8))
    scores = score_index(index, splits, "bm25")
    assert set(scores) == {b.name for b in splits.benchmarks} and "bbh-mixed" in scores
    for parts in scores.values():
        assert set(parts) == {"dev", "test", "all"} and all(0 <= v <= 1 for p in parts.values() for v in p.values())
    assert scores["p3-dataset"]["all"]["Success@1"] > 0.5  # BM25 finds most held-out templates' datasets


def test_default_recipe_names_a_registry_base_and_valid_alignment() -> None:
    from instr_select.index.default import alignment_config, read_recipe
    from instr_select.models import get_spec

    recipe, _ = read_recipe()  # the recipe shipped with the package
    kind = get_spec(recipe["encoder"]["base"]).kind
    assert kind == "sentence-transformer"  # queried through its ONNX export, never torch
    config, _ = alignment_config(recipe)
    config.validate()
