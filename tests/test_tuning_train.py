"""Tuning and evaluation on a tiny model and a handful of examples (seconds)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from instr_select.errors import ConfigError, DataError
from instr_select.tasks import Example, Task
from instr_select.tuning.evaluate import evaluate_task, exact_match, normalize_answer
from instr_select.tuning.modeling import load_model, target_nll
from instr_select.tuning.train import TuneConfig, _features, tune

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared builders, with or without tests/__init__.py
from test_tuning_fixtures import texts_of, toy_pool, toy_records  # noqa: E402


@pytest.fixture(scope="module")
def records():
    return toy_records()


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-gpt2"])
def test_tune_lowers_training_loss_and_saves(name, records, tmp_path):
    bundle = load_model(name, texts=texts_of(records), seed=0)
    prompts, targets = [r["prompt"] for r in records], [r["completion"] for r in records]
    before = target_nll(bundle, prompts, targets).mean()
    config = TuneConfig(max_steps=25, batch_size=4, learning_rate=3e-3, seed=0, progress=False, logging_steps=5)
    out = tmp_path / "model"
    tuned = tune(bundle, records, config, out=out, provenance={"mixture_hash": "abc"})
    after = target_nll(tuned, prompts, targets).mean()
    assert after < before - 0.5, (before, after)
    info = json.loads((out / "training_info.json").read_text())
    assert info["base_model"] == name and info["model_kind"] == "tiny" and info["steps"] == 25
    assert info["mixture_hash"] == "abc" and info["seed"] == 0 and "transformers" in info["versions"]
    assert info["config"]["learning_rate"] == 3e-3
    reloaded = load_model(out)
    np.testing.assert_allclose(target_nll(reloaded, prompts, targets).mean(), after, rtol=1e-4)


def test_causal_labels_mask_the_prompt(records):
    bundle = load_model("tiny-gpt2", texts=texts_of(records), seed=0)
    feats = _features(bundle, records[:3])
    for feat, record in zip(feats, records[:3], strict=True):
        target = bundle.tokenizer(record["completion"], add_special_tokens=False)["input_ids"]
        kept = [t for t in feat["labels"] if t != -100]
        assert kept == [*target, bundle.tokenizer.eos_token_id]
        assert feat["input_ids"][-len(kept) :] == kept
        assert feat["labels"][: len(feat["input_ids"]) - len(kept)] == [-100] * (len(feat["input_ids"]) - len(kept))


def test_tune_config_and_records_errors(records):
    with pytest.raises(ConfigError):
        TuneConfig(batch_size=0)
    with pytest.raises(ConfigError):
        TuneConfig(learning_rate=-1.0)
    bundle = load_model("tiny-t5", texts=texts_of(records), seed=0)
    with pytest.raises(DataError, match="no records"):
        tune(bundle, [], TuneConfig(max_steps=1, progress=False))


def test_normalization_and_exact_match():
    assert normalize_answer("The  Answer, is: (A)!") == "answer is"
    assert exact_match("(A)", ["(a)"]) == 1.0
    assert exact_match("b", ["a", "c"]) == 0.0


def test_evaluate_task_report_and_mc_ranking(records):
    bundle = load_model("tiny-t5", texts=texts_of(records), seed=0)
    task = toy_pool().get("bigbench:parity")
    report = evaluate_task(bundle, task, max_examples=8, batch_size=4, max_new_tokens=4, seed=0)
    metrics = report["metrics"]
    assert report["examples"] == 8 and metrics["mc_examples"] == 8
    assert 0.0 <= metrics["exact_match"] <= 100.0 and 0.0 <= metrics["rougeL"] <= 100.0
    # the multiple-choice answer is the option with the lowest NLL: recompute it independently
    from instr_select.tuning.evaluate import sample_examples
    from instr_select.tuning.mixture import render_example, task_instruction

    examples = sample_examples(task, 8, 0)
    correct = 0
    for ex in examples:
        prompt = render_example(task, ex, task_instruction(task))["prompt"]
        nll = target_nll(bundle, [prompt] * len(ex.options), list(ex.options))
        correct += ex.options[int(np.argmin(nll))] in ex.answers
    assert metrics["mc_accuracy"] == pytest.approx(100.0 * correct / 8)
    assert all("mc_choice" in p for p in report["predictions"])


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-gpt2"])
def test_gold_nll_of_a_multiple_choice_target_is_the_gold_options(name, records):
    """The gold NLL is read from the options' scores when the gold answer is an option: the same number
    that ``target_nll`` gives the gold answers on their own."""
    from instr_select.tuning.evaluate import sample_examples
    from instr_select.tuning.mixture import render_example, task_instruction

    bundle = load_model(name, texts=texts_of(records), seed=0)
    task = toy_pool().get("bigbench:parity")
    report = evaluate_task(bundle, task, max_examples=8, batch_size=4, seed=0, generation="no")
    examples = sample_examples(task, 8, 0)
    prompts = [render_example(task, ex, task_instruction(task))["prompt"] for ex in examples]
    expected = target_nll(bundle, prompts, [ex.output for ex in examples]).mean()
    assert report["metrics"]["gold_nll"] == pytest.approx(expected, abs=2e-4)


def test_evaluate_generation_scores_with_known_predictions(monkeypatch, records):
    """Exact match and ROUGE-L are computed from the generated text against every reference."""
    import instr_select.tuning.evaluate as ev

    task = Task(
        "t",
        "niv2",
        ["Copy."],
        _examples=[Example("x", "red car", references=("red car", "a red car")), Example("y", "blue")],
    )
    import numpy as np

    monkeypatch.setattr(ev, "generate", lambda bundle, prompts, **kw: ["A red car.", "green"][: len(prompts)])
    monkeypatch.setattr(ev, "target_nll", lambda bundle, prompts, targets, **kw: np.array([0.5, 1.5])[: len(prompts)])
    report = ev.evaluate_task(object.__new__(type("B", (), {"name": "fake", "info": {}})), task, max_examples=None)
    assert report["metrics"]["exact_match"] == 50.0
    assert report["metrics"]["rougeL"] == 50.0
    assert report["metrics"]["mc_accuracy"] is None
    assert report["metrics"]["gold_nll"] == 1.0  # the mean of the gold answers' NLL


def test_target_without_examples():
    with pytest.raises(DataError, match="no examples"):
        evaluate_task(None, Task("e", "bigbench", ["x"], _examples=[]))


def test_lora_trains_adapters_and_saves_a_plain_model(records, tmp_path):
    """LoRA: only the adapters train (a small fraction), then merge into a model that loads like any other."""
    from instr_select.tuning.modeling import load_model

    texts = [r["prompt"] + " " + r["completion"] for r in records]
    bundle = load_model("tiny-gpt2", texts=texts, seed=0)
    total = sum(p.numel() for p in bundle.model.parameters())
    config = TuneConfig(max_steps=3, batch_size=4, method="lora", lora_rank=4, progress=False, logging_steps=1)
    tuned = tune(bundle, records, config, out=tmp_path / "lora")
    info = tuned.info["training"]
    assert 0 < info["trainable_parameters"] < total / 4
    assert not hasattr(tuned.model, "peft_config")  # merged: a plain transformers model
    again = load_model(tmp_path / "lora")
    assert set(again.model.state_dict()) == set(tuned.model.state_dict())


def test_a_budget_that_cannot_fit_is_refused(records):
    from instr_select.tuning.modeling import load_model

    bundle = load_model("tiny-gpt2", texts=[r["prompt"] for r in records], seed=0)
    with pytest.raises(ConfigError, match="--max-steps"):
        tune(bundle, records[:2], TuneConfig(max_steps=100, batch_size=8, progress=False))


def test_classification_targets_rank_their_labels():
    from instr_select.tuning.evaluate import answer_options, label_set

    labels = ["POS", "NEG", "POS", "NEG", "POS"]
    task = Task("sst", "niv2", ["Classify."], _examples=[Example(f"x{i}", y) for i, y in enumerate(labels)])
    assert label_set(task) == ["NEG", "POS"]
    assert answer_options(task, task.examples[:1]) == [["NEG", "POS"]]
    free_text = Task("gen", "niv2", ["Write."], _examples=[Example(f"x{i}", f"text {i}") for i in range(6)])
    assert label_set(free_text) == []  # every output differs: generation, scored by ROUGE-L
