"""PU, PP and perplexity against hand computation on a fixed toy model; perturbation; caching."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pytest

from instr_select.errors import DataError
from instr_select.tasks import Example, Task, TaskCollection
from instr_select.uncertainty.perturb import drop_words, perturb_instruction
from instr_select.uncertainty.scoring import (
    ScoreCache,
    ScoreConfig,
    require_examples,
    score_task,
    score_tasks,
    task_instances,
    task_perturbations,
)


class ToyScorer:
    """A fixed toy model: greedy output = first input word; nll = 0.1*|I| + 0.2*|x| + 0.05*len(y)."""

    def __init__(self, model_id: str = "toy") -> None:
        self.model_id = model_id
        self.nll_calls: list[int] = []
        self.generate_calls = 0

    def prompt(self, instruction: str, input: str) -> str:
        return f"{instruction}||{input}"

    def generate(self, prompts: Sequence[str]) -> list[str]:
        self.generate_calls += 1
        return [p.split("||")[1].split()[0] for p in prompts]

    def target_nll(self, prompts: Sequence[str], targets: Sequence[str]) -> np.ndarray:
        self.nll_calls.append(len(prompts))
        out = []
        for p, y in zip(prompts, targets, strict=True):
            instruction, x = p.split("||")
            out.append(0.1 * len(instruction.split()) + 0.2 * len(x.split()) + 0.05 * len(y))
        return np.array(out)


def toy_nll(instruction: str, x: str, y: str) -> float:
    return 0.1 * len(instruction.split()) + 0.2 * len(x.split()) + 0.05 * len(y)


def make_task(task_id: str = "t", instruction: str = "Translate the sentence now", inputs=("a b", "c d e")) -> Task:
    return Task(task_id, "toy", [instruction], _examples=[Example(input=x, output="o") for x in inputs])


def test_pu_pp_ppl_match_hand_computation_with_fixed_perturbations() -> None:
    scorer = ToyScorer()
    task = make_task()
    config = ScoreConfig(n_instances=10, k_perturbations=2)
    score = score_task(scorer, task, config, perturbed=["Translate sentence now", "now"])
    # instance 1: x="a b", y_hat="a": nll = 0.85 (I0, 4 words), 0.75 (3 words), 0.55 (1 word)
    # instance 2: x="c d e", y_hat="c": nll = 1.05, 0.95, 0.75
    e = math.exp
    pu = (abs(e(-0.75) - e(-0.85)) + abs(e(-0.55) - e(-0.85)) + abs(e(-0.95) - e(-1.05)) + abs(e(-0.75) - e(-1.05))) / 4
    pp = (e(-0.85) + e(-1.05)) / 2
    assert score.pu == pytest.approx(pu, rel=1e-12)
    assert score.pp == pytest.approx(pp, rel=1e-12)
    assert score.perplexity == pytest.approx(e((0.85 + 1.05) / 2), rel=1e-12)
    assert score.n_used == 2 and score.k == 2
    assert score.notes and "only 2 of 10" in score.notes[0]
    # one greedy call for the task, one target_nll call per instance holding I0 and both I_j
    assert scorer.generate_calls == 1
    assert scorer.nll_calls == [3, 3]


def test_pu_pp_with_seeded_perturbations_match_independent_loop() -> None:
    inputs = [f"w{i} " + "x " * (i % 4) for i in range(15)]
    task = make_task(instruction="Read the passage and answer the question with one word", inputs=inputs)
    config = ScoreConfig(n_instances=6, k_perturbations=5, drop_prob=0.3, seed=7)
    score = score_task(ToyScorer(), task, config)
    variants = task_perturbations(task, config)
    chosen = [inputs[i] for i in task_instances(task, config)]
    assert len(variants) == 5 and len(chosen) == 6
    diffs, p0s = [], []
    for x in chosen:
        y = x.split()[0]
        p0 = math.exp(-toy_nll(task.instructions[0], x, y))
        p0s.append(p0)
        diffs += [abs(math.exp(-toy_nll(v, x, y)) - p0) for v in variants]
    assert score.pu == pytest.approx(sum(diffs) / (6 * 5))
    assert score.pp == pytest.approx(sum(p0s) / 6)
    assert score.pu > 0  # dropping words changes the toy probability


def test_perturbation_seeded_and_keeps_one_word() -> None:
    text = " ".join(f"w{i}" for i in range(40))
    a = perturb_instruction(text, k=10, drop_prob=0.2, seed=1)
    assert a == perturb_instruction(text, k=10, drop_prob=0.2, seed=1)
    assert a != perturb_instruction(text, k=10, drop_prob=0.2, seed=2)
    kept = sum(len(v.split()) for v in a) / (10 * 40)
    assert 0.7 < kept < 0.9  # about 80% of the words survive
    for v in a:  # words keep their order, and only original words appear
        words = v.split()
        assert words == [w for w in text.split() if w in set(words)]
    assert perturb_instruction("Summarize", k=5, drop_prob=0.2, seed=0) == ["Summarize"] * 5
    import random

    assert len(drop_words("a b c", 0.999999, random.Random(0)).split()) == 1
    assert perturb_instruction(text, k=3, drop_prob=0.0) == [text] * 3


def test_fewer_instances_and_empty_tasks() -> None:
    tasks = TaskCollection([make_task("full"), Task("empty1", "toy", ["x y"]), Task("empty2", "toy", ["z"])])
    with pytest.raises(DataError, match=r"2 pool task\(s\) have no examples.*toy:empty1, toy:empty2.*--skip-empty"):
        require_examples(tasks)
    assert [t.key for t in require_examples(tasks, skip_empty=True)] == ["toy:full"]


def values(scores) -> list[tuple]:
    return [(s.key, s.pu, s.pp, s.perplexity, s.n_used) for s in scores]


def test_cache_reuses_and_resumes(tmp_path) -> None:
    tasks = [make_task(f"t{i}", inputs=("a b", "c d")) for i in range(3)]
    config = ScoreConfig(n_instances=2, k_perturbations=3)
    first = ToyScorer()
    scores = score_tasks(first, tasks, config, cache_dir=tmp_path, progress=False)
    assert len(first.nll_calls) == 6
    again = ToyScorer()
    assert values(score_tasks(again, tasks, config, cache_dir=tmp_path, progress=False)) == values(scores)
    assert again.nll_calls == []
    # a different seed or model is a different cache entry
    other_seed = ToyScorer()
    score_tasks(other_seed, tasks[:1], ScoreConfig(n_instances=2, k_perturbations=3, seed=1), tmp_path, False)
    assert len(other_seed.nll_calls) == 2
    other_model = ToyScorer("toy2")
    score_tasks(other_model, tasks[:1], config, tmp_path, False)
    assert len(other_model.nll_calls) == 2
    # a corrupt (half-written) entry is recomputed, not trusted
    files = sorted(ScoreCache(tmp_path, "toy", config).dir.glob("*.json"))
    assert len(files) == 3
    files[0].write_text("{not json")
    redo = ToyScorer()
    assert values(score_tasks(redo, tasks, config, tmp_path, False)) == values(scores)
    assert len(redo.nll_calls) == 2
    assert json.loads(files[0].read_text())["model"] == "toy"


def test_tiny_model_scores_match_unbatched_computation() -> None:
    """On a seeded tiny T5, the batched scorer equals the formula applied to one-by-one target_nll calls."""
    from instr_select.tuning.modeling import format_prompt, generate, load_model, target_nll
    from instr_select.uncertainty.backend import BundleScorer, model_hash

    task = make_task(instruction="Copy the input word exactly as it is given", inputs=("alpha beta", "gamma", "delta"))
    texts = [task.instructions[0], "alpha beta gamma delta", "copy the word"]
    bundle = load_model("tiny-t5", texts=texts, seed=3)
    scorer = BundleScorer(bundle, max_new_tokens=5, batch_size=4)
    assert scorer.model_id == model_hash(load_model("tiny-t5", texts=texts, seed=3))
    assert scorer.model_id != model_hash(load_model("tiny-t5", texts=texts, seed=4))
    config = ScoreConfig(n_instances=3, k_perturbations=4, seed=1)
    score = score_task(scorer, task, config)
    variants = task_perturbations(task, config)
    diffs, p0s, nll0 = [], [], []
    for i in task_instances(task, config):
        x = task.examples[i].input
        y = generate(bundle, [format_prompt(task.instructions[0], x)], max_new_tokens=5)[0]
        base = float(target_nll(bundle, [format_prompt(task.instructions[0], x)], [y])[0])
        nll0.append(base)
        p0s.append(math.exp(-base))
        for v in variants:
            diffs.append(abs(math.exp(-float(target_nll(bundle, [format_prompt(v, x)], [y])[0])) - p0s[-1]))
    assert score.pu == pytest.approx(sum(diffs) / len(diffs), rel=1e-4, abs=1e-9)
    assert score.pp == pytest.approx(sum(p0s) / len(p0s), rel=1e-4)
    assert score.perplexity == pytest.approx(math.exp(sum(nll0) / len(nll0)), rel=1e-4)
