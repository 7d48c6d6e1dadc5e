"""Task cards: the answer space read from a task's examples, the card text, the carded selectors."""

from __future__ import annotations

import pytest

from instr_select.cards import answer_space, card, with_cards
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


def test_with_cards_copies_and_keeps_examples() -> None:
    original = task(["POS", "NEG", "POS", "NEG"])
    (carded,) = with_cards([original])
    assert original.instructions == ["Do the task."]
    assert carded.instructions == ['Do the task.\nAnswer: one of "NEG", "POS".']
    assert carded.key == original.key and carded.examples is original.examples


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
