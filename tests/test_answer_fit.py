"""Answer fit: the answer lengths an index records, the re-ranking, and where they come from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_index_fixtures import ENTAIL, save_tiny_model

from instr_select.cards import answer_space
from instr_select.errors import ConfigError
from instr_select.index import InstructionIndex, build_index
from instr_select.retrieval import Retriever
from instr_select.retrieval.aggregate import RankedTask
from instr_select.retrieval.answer_fit import check_answer_fit, predicted_length, rerank
from instr_select.tasks import Example, Task, TaskCollection


def _task(task_id: str, instruction: str, outputs: list[str]) -> Task:
    examples = [Example(input=f"x{i}", output=out) for i, out in enumerate(outputs)]
    return Task(task_id, "toy", [instruction], source=task_id, _examples=examples)


def fit_tasks() -> TaskCollection:
    """Near-duplicate instructions; the label tasks answer in one word, the others in a paragraph."""
    long = ["word " * 30] * 3
    return TaskCollection(
        [
            _task("label_a", ENTAIL + " Say yes or no.", ["yes", "no", "yes"]),
            _task("label_b", ENTAIL + " Reply with one word.", ["true", "false", "true"]),
            _task("essay_a", ENTAIL + " Explain why in detail.", long),
            _task("essay_b", ENTAIL + " Write a long justification.", long),
            _task("label_c", ENTAIL + " Answer entailment or not.", ["entailment", "neutral", "entailment"]),
            Task("bare", "toy", [ENTAIL + " No examples here."], source="bare"),
        ]
    )


@pytest.fixture(scope="module")
def fit_index(tmp_path_factory) -> InstructionIndex:
    root = tmp_path_factory.mktemp("fit")
    tasks = fit_tasks()
    return InstructionIndex.load(build_index(tasks, save_tiny_model(root / "enc", tasks), root / "index"))


def test_index_records_answer_words(fit_index: InstructionIndex) -> None:
    words = {t.task_id: t.answer_words for t in fit_index.tasks}
    assert words["label_a"] == 1.0 and words["essay_a"] == 30.0 and words["bare"] is None
    rows = [json.loads(line) for line in (fit_index.directory / "tasks.jsonl").read_text().splitlines()]
    assert {row["task_id"]: row["answer_words"] for row in rows}["essay_b"] == 30.0


def test_predicted_length_is_the_median_of_the_first_known() -> None:
    assert predicted_length([None, 1.0, 1.0, 30.0], neighbours=3) == pytest.approx(0.6931, abs=1e-4)
    assert predicted_length([None, None]) is None


def test_rerank_moves_tasks_whose_answers_fit_up() -> None:
    ranked = [RankedTask(task, 1.0 - 0.01 * task, task) for task in range(5)]
    words = [30.0, 1.0, 1.0, 30.0, 1.0]  # the first hit is an essay among label tasks
    out = rerank(ranked, words, weight=2.0, neighbours=5)
    assert [r.task for r in out][:3] == [1, 2, 4] and {r.task for r in out[3:]} == {0, 3}
    assert rerank(ranked, words, weight=0.0) is ranked
    assert rerank(ranked, [None] * 5, weight=1.0) is ranked  # nothing known: nothing to predict


def test_retriever_answer_fit_reorders_only_when_weighted(fit_index: InstructionIndex) -> None:
    plain = Retriever(fit_index, "dense").search(ENTAIL, k=6, guard=False)
    fitted = Retriever(fit_index, "dense", answer_fit=5.0).search(ENTAIL, k=6, guard=False)
    assert sorted(r.task_id for r in plain) == sorted(r.task_id for r in fitted)
    predicted = predicted_length([fit_index.find_task(r.task_id).answer_words for r in plain])
    short = predicted < 2  # the query's best hits answer in one word: the essays sink, else they rise
    essays = [r.rank for r in fitted if r.task_id.startswith("essay")]
    assert (min(essays) >= 4) if short else (max(essays) <= 2)


def test_bad_weight_and_an_index_without_answer_lengths(fit_index: InstructionIndex, tmp_path: Path) -> None:
    for bad in (-1, float("nan"), "1", True):
        with pytest.raises(ConfigError, match="answer fit weight"):
            check_answer_fit(bad)
    old = tmp_path / "old"
    old.mkdir()
    tasks = TaskCollection([Task("plain", "toy", [ENTAIL], source="p")])
    old_index = InstructionIndex.load(build_index(tasks, save_tiny_model(tmp_path / "enc", tasks), old))
    with pytest.raises(ConfigError, match="records no answer lengths.*pass --answer-fit 0"):
        Retriever(old_index, "dense", answer_fit=1.0)
    from conftest import run_cli

    refused = run_cli("query", ENTAIL, "--index", str(old), "--answer-fit", "1")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1 and "Traceback" not in refused.err
    assert Retriever(old_index, "dense", answer_fit=0.0).search(ENTAIL, k=1, guard=False)


def test_answer_choices_give_a_card_without_examples(tmp_path: Path, cli) -> None:
    declared = Task("p", "toy", ["Is it true?"], answer_choices=["True", "False"])
    assert answer_space(declared).kind == "label" and answer_space(declared).words == 1
    assert answer_space(Task("q", "toy", ["Write."])).kind == "unknown"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": "t", "instruction": "Say yes.", "answer_choices": "yes"}) + "\n")
    out = tmp_path / "index"
    result = cli("build-index", f"jsonl={bad}", "--out", str(out))
    assert result.code == 2 and not out.exists()
    assert "'answer_choices' must be a list of strings" in result.err and 'write ["yes"]' in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_promptsource_fixed_answer_choices() -> None:
    from instr_select.loaders.promptsource import fixed_answer_choices

    templates = [{"answer_choices": "{{ options | join(' ||| ') }}"}, {"answer_choices": "Yes ||| No"}, {}]
    assert fixed_answer_choices(templates) == ["Yes", "No"]
    assert fixed_answer_choices([{"answer_choices": None}]) == []


@pytest.mark.parametrize("bad", ['"many"', "-1", "NaN", "true"])
def test_task_table_refuses_a_bad_answer_length(fit_index: InstructionIndex, tmp_path: Path, bad: str) -> None:
    from instr_select.errors import DataError
    from instr_select.index.tables import task_table

    rows = (fit_index.directory / "tasks.jsonl").read_text().splitlines()
    row = json.loads(rows[0])
    rows[0] = json.dumps(row).replace(f'"answer_words": {json.dumps(row["answer_words"])}', f'"answer_words": {bad}')
    table = tmp_path / "tasks.jsonl"
    table.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="'answer_words' must be a number >= 0 or null"):
        task_table(table)


def test_query_defaults_are_the_chosen_ones(fit_index: InstructionIndex, tmp_path: Path) -> None:
    import warnings

    from instr_select.retrieval import query
    from instr_select.retrieval.defaults import ANSWER_FIT, DEFAULT_AGGREGATE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tasks without examples
        chosen = query(ENTAIL, index=fit_index.directory, k=3)
        plain = query(ENTAIL, index=fit_index.directory, k=3, answer_fit=0, aggregate="max")
    assert chosen.params["aggregate"] == DEFAULT_AGGREGATE and chosen.params["answer_fit"] == ANSWER_FIT > 0
    assert plain.params["answer_fit"] == 0
    # an index that records no answer lengths (built before they were) is searched without re-ranking
    tasks = TaskCollection([Task("plain", "toy", [ENTAIL], source="p")])
    old = build_index(tasks, save_tiny_model(tmp_path / "enc", tasks), tmp_path / "old")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert query(ENTAIL, index=old, k=1, guard=False).params["answer_fit"] == 0.0


def test_a_version_1_index_still_loads_and_add_brings_it_to_version_2(tmp_path: Path, cli) -> None:
    from instr_select.index import FORMAT_VERSION, add_to_index
    from instr_select.index.store import content_hashes

    tasks = fit_tasks()
    out = build_index(tasks, save_tiny_model(tmp_path / "enc", tasks), tmp_path / "v1")
    rows = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    (out / "tasks.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k not in ("answer_words", "card")}) + "\n" for r in rows)
    )
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.pop("cards")
    manifest.update(format_version=1, hashes=content_hashes(out))
    (out / "manifest.json").write_text(json.dumps(manifest))
    old = InstructionIndex.load(out)
    assert old.manifest.format_version == 1 and all(t.answer_words is None for t in old.tasks)
    assert cli("query", ENTAIL, "--index", str(out), "--json").code == 0  # searched without answer fit
    add_to_index(out, TaskCollection([_task("more", "Name the capital.", ["Paris"] * 3)]))
    added = InstructionIndex.load(out)
    assert added.manifest.format_version == FORMAT_VERSION == 2 and added.tasks[-1].answer_words == 1.0


def test_query_help_names_the_defaults(cli) -> None:
    from instr_select.retrieval.defaults import ANSWER_FIT, DEFAULT_AGGREGATE

    # the help text cannot import the defaults (that would load numpy for --help), so it repeats them
    text = " ".join(cli("query", "--help").out.split())
    assert f"default: {DEFAULT_AGGREGATE}," in text and f"default: {ANSWER_FIT:g}," in text
