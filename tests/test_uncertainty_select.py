"""Selectors, the task map and the select/taskmap commands (toy scorer and a tiny model)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from instr_select.errors import ConfigError
from instr_select.selection import Selection
from instr_select.tasks import Example, Task, TaskCollection
from instr_select.uncertainty.scoring import TaskScore
from instr_select.uncertainty.selectors import parse_selectors, random_tasks, rank_scores, select_from_pool
from instr_select.uncertainty.taskmap import plot_taskmap, region, thresholds, write_csv, write_json


class ToyScorer:
    """A fixed toy model (as in test_uncertainty_scoring): PU grows with the instruction's length."""

    model_id = "toy"

    def prompt(self, instruction: str, input: str) -> str:
        return f"{instruction}||{input}"

    def generate(self, prompts: Sequence[str]) -> list[str]:
        return [p.split("||")[1].split()[0] for p in prompts]

    def target_nll(self, prompts: Sequence[str], targets: Sequence[str]) -> np.ndarray:
        return np.array(
            [0.1 * len(p.split("||")[0].split()) + 0.05 * len(y) for p, y in zip(prompts, targets, strict=True)]
        )


def fake(key: str, pu: float, pp: float, ppl: float) -> TaskScore:
    return TaskScore(key, key.split(":")[1], key.split(":")[0], pu, pp, ppl, 10, 10)


SCORES = [
    fake("m:a", 0.30, 0.5, 4.0),
    fake("m:b", 0.10, 0.9, 1.5),
    fake("m:c", 0.05, 0.2, 9.0),
    fake("m:d", 0.20, 0.4, 2.0),
]


def test_rank_scores_per_selector() -> None:
    assert [s.key for s in rank_scores(SCORES, "uncertainty")] == ["m:a", "m:d", "m:b", "m:c"]
    assert [s.key for s in rank_scores(SCORES, "high-ppl")] == ["m:c", "m:a", "m:d", "m:b"]
    assert [s.key for s in rank_scores(SCORES, "low-ppl")] == ["m:b", "m:d", "m:a", "m:c"]
    assert parse_selectors("uncertainty, random,uncertainty") == ["uncertainty", "random"]
    with pytest.raises(ConfigError, match="unknown selector 'bogus'"):
        parse_selectors("uncertainty,bogus")


def pool(n: int = 6) -> TaskCollection:
    tasks = []
    for i in range(n):
        words = " ".join(f"w{j}" for j in range(3 + 2 * i))  # longer instructions -> larger toy PU
        tasks.append(Task(f"t{i}", "toy", [words], _examples=[Example(f"x{k} y", "o") for k in range(4)]))
    return TaskCollection(tasks)


def test_select_from_pool_writes_the_selection_format(tmp_path) -> None:
    tasks = pool()
    selection, scores = select_from_pool(tasks, "uncertainty", 2, ToyScorer(), params={"model": "toy"})
    assert len(scores) == len(tasks)
    best = sorted(scores, key=lambda s: -s.pu)[:2]
    assert selection.keys == [s.key for s in best]
    assert [t.score for t in selection.tasks] == [s.pu for s in best]
    assert selection.params["selector"] == "uncertainty" and selection.params["n"] == 2
    assert selection.params["k_perturbations"] == 10 and selection.params["drop_prob"] == 0.2
    again = Selection.load(selection.save(tmp_path / "sel.json"))
    assert again.keys == selection.keys and again.selector == "uncertainty"
    # random needs no model, is seeded, and draws distinct tasks
    r1, _ = select_from_pool(tasks, "random", 3)
    r2, _ = select_from_pool(tasks, "random", 3)
    assert r1.keys == r2.keys and len(set(r1.keys)) == 3
    assert {tuple(t.key for t in random_tasks(list(tasks), 3, s)) for s in range(8)} != {tuple(r1.keys)}
    with pytest.raises(ConfigError, match="needs a model"):
        select_from_pool(tasks, "high-ppl", 2)


def test_taskmap_regions_and_files(tmp_path) -> None:
    limits = thresholds(SCORES)
    assert limits.pu == pytest.approx(0.15)  # median of 0.30, 0.10, 0.05, 0.20
    assert limits.pp == pytest.approx(0.55)  # median PP of the non-ambiguous tasks b (0.9) and c (0.2)
    assert [region(s, limits) for s in SCORES] == ["ambiguous", "easy", "difficult", "ambiguous"]
    fixed = thresholds(SCORES, pu=0.25, pp=0.45)
    assert [region(s, fixed) for s in SCORES] == ["ambiguous", "easy", "difficult", "difficult"]
    png = plot_taskmap(SCORES, limits, tmp_path / "map.png", labels=2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    with open(write_csv(SCORES, limits, tmp_path / "map.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["region"] for r in rows] == ["ambiguous", "easy", "difficult", "ambiguous"]
    data = json.loads(write_json(SCORES, limits, tmp_path / "map.json", {"model": "toy"}).read_text())
    assert data["counts"] == {"ambiguous": 2, "easy": 1, "difficult": 1} and data["model"] == "toy"


def write_pool(path: Path, tasks: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    return path


def toy_rows(n: int, examples: int = 3) -> list[dict]:
    return [
        {
            "task_id": f"task{i}",
            "instruction": "Summarize" if i == 0 else f"Answer the question about topic {i} in one short word",
            "examples": [{"input": f"question {i} {k}", "output": f"answer{k}"} for k in range(examples + i % 2)],
        }
        for i in range(n)
    ]


def test_select_command_with_tiny_model(tmp_path, cli) -> None:
    source = write_pool(tmp_path / "pool.jsonl", toy_rows(4))
    out = tmp_path / "sel.json"
    args = ["select", "--pool", f"jsonl={source}", "--model", "tiny-t5", "-k", "2", "--n-instances", "4"]
    args += ["--perturbations", "3", "--max-new-tokens", "4", "--quiet", "--cache-dir", str(tmp_path / "c")]
    result = cli(*args, "-o", str(out), "--scores", str(tmp_path / "scores.json"))
    assert result.code == 0, result.err
    selection = Selection.load(out)
    scores = json.loads((tmp_path / "scores.json").read_text())["scores"]
    assert len(scores) == 4 and len(selection.tasks) == 2
    top = sorted(scores, key=lambda s: (-s["pu"], s["key"]))[:2]
    assert selection.keys == [s["key"] for s in top]
    assert selection.params["model"] == "tiny-t5" and len(selection.params["model_hash"]) == 64
    # the one-word instruction was scored (perturbation keeps its only word), fewer instances reported
    assert any(s["key"] == "jsonl:task0" for s in scores)
    assert "fewer than the asked instances" in result.err
    # cached: the second run reuses every score
    cached = cli("-v", *args)
    assert cached.code == 0 and "reused 4 cached task score(s)" in cached.err


def test_select_bad_input(tmp_path, cli) -> None:
    rows = toy_rows(3)
    rows[1]["examples"] = []
    rows[2].pop("examples")
    source = write_pool(tmp_path / "pool.jsonl", rows)
    result = cli("select", "--pool", f"jsonl={source}", "--model", "tiny-t5", "-k", "1")
    assert result.code == 2 and "Traceback" not in result.err
    assert "2 pool task(s) have no examples" in result.err and "jsonl:task1, jsonl:task2" in result.err
    assert "--skip-empty" in result.err
    unknown_model = cli("select", "--pool", f"jsonl={source}", "--skip-empty", "--selector", "low-ppl",
                        "--model", "no-such-model")  # fmt: skip
    assert unknown_model.code == 2 and "no-such-model" in unknown_model.err and "Traceback" not in unknown_model.err
    bad_pool = cli("select", "--pool", "nosuch", "--selector", "random")
    assert bad_pool.code == 2 and "unknown source 'nosuch'" in bad_pool.err


def test_mismatched_model_and_tokenizer(tmp_path, cli) -> None:
    from instr_select.tuning.modeling import load_model, save_model

    small = load_model("tiny-t5", texts=["a b c", "a c"], seed=0)
    big = load_model("tiny-t5", texts=[f"word{i} token{i * 7} thing{i * 13}" for i in range(300)], seed=0)
    assert len(big.tokenizer) > small.model.get_input_embeddings().num_embeddings
    save_model(small, tmp_path / "model")
    big.tokenizer.save_pretrained(tmp_path / "model")
    source = write_pool(tmp_path / "pool.jsonl", toy_rows(2))
    result = cli("select", "--pool", f"jsonl={source}", "--model", str(tmp_path / "model"), "-k", "1")
    assert result.code == 2 and "Traceback" not in result.err
    assert "do not belong together" in result.err
