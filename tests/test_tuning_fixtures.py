"""Builders shared by the tuning/export tests: a small in-memory pool covering every meta-dataset."""

from __future__ import annotations

from instr_select.tasks import Example, Task, TaskCollection


def toy_pool() -> TaskCollection:
    mc = [Example(f"Is {i} even?", "yes" if i % 2 == 0 else "no", options=("yes", "no")) for i in range(30)]
    bbh = [Example(f"Pick one: (A) red (B) blue {i}", "(A)", options=("(A)", "(B)")) for i in range(10)]
    niv2 = [Example(f"sentence {i}", f"label {i}") for i in range(8)]
    return TaskCollection(
        [
            Task("parity", "bigbench", ["Say whether the number is even."], _examples=mc),
            Task("colors", "bbh", ["Choose the color."], _examples=bbh),
            Task(
                "task001_label",
                "niv2",
                ["Label the sentence."],
                metadata={
                    "positive_examples": [
                        {"input": "a cat", "output": "animal"},
                        {"input": "a car", "output": "vehicle"},
                    ]
                },
                _examples=niv2,
            ),
            Task("s1", "self_instruct", ["Write a haiku."], _examples=[Example("", "old pond")]),
            Task(
                "ag_news",
                "promptsource",
                ["{{text}} ||| {{label}}"],
                _examples=[Example("What topic? Stocks rose.", "Business", options=("World", "Business"))],
            ),
            Task("empty", "bigbench", ["Nothing here."], _examples=[]),
        ]
    )


def toy_records() -> list[dict]:
    """Training records of two toy tasks (6 examples each), as ``tune`` reads them."""
    from instr_select.tuning.mixture import MixtureConfig, build_records

    return build_records(["bigbench:parity", "bbh:colors"], MixtureConfig(max_per_task=6), pool=toy_pool()).records


def texts_of(records: list[dict]) -> list[str]:
    return [r["prompt"] + " " + r["completion"] for r in records]


def test_toy_pool_covers_every_renderer():
    pool = toy_pool()
    assert {t.meta_dataset for t in pool} == {"bigbench", "bbh", "niv2", "self_instruct", "promptsource"}
    assert [t.key for t in pool if not t.examples] == ["bigbench:empty"]
