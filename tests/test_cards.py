"""Task cards: the answer space read from a task's examples, the card text, the carded selectors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from instr_select.cards import answer_space, card, card_lines, carded
from instr_select.errors import ConfigError
from instr_select.tasks import Example, Task


def task(outputs: list[str], options: tuple[str, ...] = (), categories: list[str] | None = None) -> Task:
    examples = [Example(input=f"x{i}", output=out, options=options) for i, out in enumerate(outputs)]
    return Task("t", "toy", ["Do the task."], categories=categories or [], _examples=examples)


def test_answer_space_kinds() -> None:
    assert answer_space(task(["POS", "NEG", "POS", "NEG"])).labels == ("NEG", "POS")
    assert answer_space(task(["yes", "no"], options=("no", "yes"))).labels == ("no", "yes")
    varied = Task(
        "t", "toy", ["Pick."], _examples=[Example("a", "x", options=("x", "y")), Example("b", "z", options=("z", "w"))]
    )
    assert answer_space(varied).kind == "options"
    assert answer_space(task(["12", "7", "1,024", "3.5"])).kind == "number"
    assert answer_space(task(["0", "1", "1", "0"])).kind == "label"  # a numeric label set is a label set
    free = answer_space(task(["the cat sat on the mat", "a dog ran far away", "it rained all day long"]))
    assert free.kind == "text" and free.words == 5
    assert answer_space(task([])).kind == "unknown"
    many = answer_space(task([f"label{i % 12}" for i in range(48)]))
    assert many.kind == "text"  # twelve distinct answers: more than a label set


def test_card_text_and_fields() -> None:
    sentiment = task(["POS", "NEG", "POS", "NEG"], categories=["Sentiment Analysis", "zero-shot"])
    assert card(sentiment, "Classify.") == 'Classify.\nAnswer: one of "NEG", "POS".\nCategory: Sentiment Analysis.'
    assert card(sentiment, "Classify.", ["answer"]) == 'Classify.\nAnswer: one of "NEG", "POS".'
    assert card(task(["one two"] * 3 + ["x"]), "Write.", ["category"]) == "Write."
    assert card(task(["word"] * 1 + ["other"]), "Say.", ["answer"]).endswith("about 1 word.")
    with pytest.raises(ConfigError, match="unknown card field 'label'"):
        card(sentiment, "x", ["label"])


def test_card_lines_and_carded_text() -> None:
    labelled = task(["POS", "NEG", "POS", "NEG"])
    assert card_lines(labelled) == 'Answer: one of "NEG", "POS".'
    assert carded("Do the task.", card_lines(labelled)) == 'Do the task.\nAnswer: one of "NEG", "POS".'
    assert carded("Do the task.", "") == carded("Do the task.", None) == "Do the task."


def _carded_tasks() -> list[Task]:
    sentiment = task(["POS", "NEG", "POS", "NEG"], categories=["Sentiment Analysis"])
    other = Task("u", "toy", ["Write a poem about the sea."], categories=["Poetry"], source="u")
    return [replace(sentiment, source="t"), other]


def test_index_with_cards_embeds_them_and_shows_plain_instructions(tmp_path, cli) -> None:
    from test_index_fixtures import save_tiny_model

    from instr_select.index import InstructionIndex, build_index
    from instr_select.retrieval import Retriever
    from instr_select.tasks import TaskCollection

    tasks = TaskCollection(_carded_tasks())
    encoder = save_tiny_model(tmp_path / "enc", tasks)
    index = InstructionIndex.load(build_index(tasks, encoder, tmp_path / "carded", cards=["answer", "category"]))
    assert index.manifest.cards == ["answer", "category"]
    assert index.texts[0] == "Do the task." and index.search_text(0).endswith("Category: Sentiment Analysis.")
    plain = InstructionIndex.load(build_index(tasks, encoder, tmp_path / "plain"))
    assert plain.manifest.cards == [] and plain.search_text(0) == "Do the task."
    assert not (index.vectors == plain.vectors).all()  # the card changed what was embedded
    (hit,) = Retriever(index, "dense").search("Do the task.", k=1, guard=False)
    assert hit.matched_instruction == "Do the task."
    # the leakage guard still recognises an instruction of the index, although its vector is the carded text's
    assert Retriever(index, "dense").guard_hit("Do the task.").task == "toy:t"


def test_a_carded_index_refuses_a_table_without_cards_and_add_with_other_cards(tmp_path, cli) -> None:
    import json
    import shutil

    from test_index_fixtures import save_tiny_model

    from instr_select.errors import DataError
    from instr_select.index import InstructionIndex, build_index
    from instr_select.index.store import content_hashes
    from instr_select.tasks import TaskCollection

    tasks = TaskCollection(_carded_tasks())
    out = build_index(tasks, save_tiny_model(tmp_path / "enc", tasks), tmp_path / "carded", cards=["answer"])
    # a task table without cards beside a manifest that says they were embedded (hashes made to match)
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    rows = [json.loads(line) for line in (broken / "tasks.jsonl").read_text().splitlines()]
    (broken / "tasks.jsonl").write_text("".join(json.dumps({**r, "card": None}) + "\n" for r in rows))
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["hashes"] = content_hashes(broken)
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"says the index embeds cards \(answer\)"):
        InstructionIndex.load(broken)
    # --add with other card fields: one line, exit 2, the index untouched
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"task_id": "n", "instruction": "Name the capital.", "source": "n"}) + "\n")
    before = (out / "manifest.json").read_bytes()
    result = cli("build-index", "--add", f"jsonl={extra}", "--out", str(out), "--cards", "category")
    assert result.code == 2 and "index embeds cards (answer), not --cards category" in result.err
    assert len(result.err.strip().splitlines()) == 1 and (out / "manifest.json").read_bytes() == before
    result = cli("build-index", "--add", f"jsonl={extra}", "--out", str(out))
    assert result.code == 0, result.err
    added = InstructionIndex.load(out)
    assert added.tasks[-1].card is not None and added.manifest.cards == ["answer"]
    bad = cli("build-index", "toy", "--out", str(tmp_path / "x"), "--cards", "answer,label")
    assert bad.code == 2 and "unknown card field 'label'" in bad.err and not (tmp_path / "x").exists()


def test_carded_selectors_rank_by_the_card(tmp_path) -> None:
    from test_index_fixtures import tiny_static_model

    from instr_select.transfer.selectors import SelectorConfig, SourceScorer, selector_settings

    label = Task(
        "labels", "toy", ["Read the text."], _examples=[Example(f"i{n}", ["POS", "NEG"][n % 2]) for n in range(6)]
    )
    prose = Task(
        "prose", "toy", ["Read the text."], _examples=[Example("i", "a long free answer of many words here")] * 3
    )
    target = Task("target", "toy", ["Answer POS or NEG."])
    texts = ["Read the text.", "Answer POS or NEG.", 'Answer: one of "NEG", "POS".', "a long free answer"]
    tiny_static_model(texts, dim=16, normalize=True, seed=0).save(str(tmp_path / "enc"))
    cfg = SelectorConfig(instruction_encoder=str(tmp_path / "enc"), aligned_encoder=str(tmp_path / "enc"))
    scorer = SourceScorer([prose, label], [target], cfg)
    plain, carded = scorer.scores("bm25"), scorer.scores("bm25+card")
    assert plain[0, 0] > plain[1, 0]  # identical instructions: the first source wins the tie
    assert carded[1, 0] > carded[0, 0]  # the label card shares POS and NEG with the query
    assert selector_settings("bm25+card", cfg)["card"]["fields"] == ["answer", "category"]
    assert "card" not in selector_settings("bm25", cfg)
