"""Training and scoring precision: names, resolution, bf16 autocast in tune and scoring, CLI options."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from instr_select.errors import ConfigError
from instr_select.tuning import precision as prec
from instr_select.tuning.modeling import collator, features, load_model, options_nll, target_nll
from instr_select.tuning.precision import autocast, bundle_precision, check_precision, resolve_precision
from instr_select.tuning.train import TuneConfig, tune

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared builders, with or without tests/__init__.py
from test_tuning_fixtures import texts_of, toy_records  # noqa: E402


@pytest.fixture(scope="module")
def records():
    return toy_records()


def output_dtypes(bundle) -> tuple[list[torch.dtype], object]:
    """The dtypes the output layer produces from now on (a forward hook) and the hook's handle."""
    seen: list[torch.dtype] = []
    handle = bundle.model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen, handle


# ---- names and resolution ----


def test_explicit_precisions_resolve_to_themselves():
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("bf16") == "bf16"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert check_precision("auto") == "auto"


def test_auto_follows_native_bf16_on_the_cpu(monkeypatch):
    monkeypatch.setattr(prec, "cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    monkeypatch.setattr(prec, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", "mps") == "fp32"


def test_auto_on_a_gpu_follows_its_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda") == "bf16" and resolve_precision("auto", "cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda") == "fp32" and resolve_precision("fp32", "cuda") == "fp32"
    with pytest.raises(ConfigError, match="--precision bf16"):
        resolve_precision("bf16", "cuda")


def test_cpu_detection_reads_torch_capabilities(monkeypatch):
    detect = prec.cpu_supports_bf16.__wrapped__  # past the cache
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_bf16": True})
    assert detect() is True
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "amx_bf16": True})
    assert detect() is True
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_bf16": False})
    assert detect() is False
    assert isinstance(prec.cpu_supports_bf16(), bool)


@pytest.mark.parametrize("name", ["nope", "fp16", "BF16", ""])
def test_an_unknown_precision_is_one_line_naming_the_option_and_choices(name):
    with pytest.raises(ConfigError) as info:
        resolve_precision(name)
    message = str(info.value)
    assert "\n" not in message and "--precision" in message
    assert all(choice in message for choice in ("auto", "bf16", "fp32"))
    with pytest.raises(ConfigError, match="--precision"):
        TuneConfig(max_steps=1, precision=name)
    with pytest.raises(ConfigError, match="--precision"):
        load_model("tiny-gpt2", texts=["a b c"], precision=name)


def test_auto_is_fp32_for_tiny_models_and_explicit_bf16_is_kept(monkeypatch, records):
    monkeypatch.setattr(prec, "cpu_supports_bf16", lambda: True)
    bundle = load_model("tiny-gpt2", texts=texts_of(records), seed=0)
    assert bundle.precision == "auto" and bundle_precision(bundle) == "fp32"
    assert bundle_precision(bundle, "bf16") == "bf16"
    with autocast(bundle, "bf16") as resolved:
        assert resolved == "bf16" and torch.is_autocast_enabled("cpu")
    with autocast(bundle) as resolved:
        assert resolved == "fp32" and not torch.is_autocast_enabled("cpu")
    with autocast("cpu", "bf16"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")


# ---- training ----


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-t5"])
def test_bf16_tune_runs_under_autocast_and_records_it(name, records, tmp_path):
    bundle = load_model(name, texts=texts_of(records), seed=0)
    seen, handle = output_dtypes(bundle)
    config = TuneConfig(max_steps=4, batch_size=4, seed=0, progress=False, logging_steps=1, precision="bf16")
    tuned = tune(bundle, records, config, out=tmp_path / "model")
    assert seen and set(seen) == {torch.bfloat16}  # every training forward pass ran under bf16 autocast
    info = tuned.info["training"]
    assert info["precision"] == "bf16" and info["config"]["precision"] == "bf16"
    assert np.isfinite(info["train_loss"]) and info["steps"] == 4
    saved = json.loads((tmp_path / "model" / "training_info.json").read_text())
    assert saved["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in tuned.model.parameters())  # weights stay fp32
    assert {t.dtype for t in load_model(tmp_path / "model").model.state_dict().values()} == {torch.float32}
    # the returned bundle scores in bf16; the Trainer's autocast wrapper is gone, so fp32 means fp32
    prompts, targets = [r["prompt"] for r in records], [r["completion"] for r in records]
    assert tuned.precision == "bf16"
    seen.clear()
    target_nll(tuned, prompts[:4], targets[:4])
    assert set(seen) == {torch.bfloat16}
    tuned.precision = "fp32"
    seen.clear()
    target_nll(tuned, prompts[:4], targets[:4])
    assert set(seen) == {torch.float32}
    handle.remove()


def test_fp32_tune_is_unchanged(records):
    runs = {}
    for precision in ("fp32", "auto"):  # auto is fp32 for the tiny models, on any machine
        bundle = load_model("tiny-gpt2", texts=texts_of(records), seed=0)
        seen, handle = output_dtypes(bundle)
        config = TuneConfig(max_steps=3, batch_size=4, seed=0, progress=False, logging_steps=1, precision=precision)
        tuned = tune(bundle, records, config)
        handle.remove()
        assert set(seen) == {torch.float32} and tuned.info["training"]["precision"] == "fp32"
        runs[precision] = (tuned.info["training"]["train_loss"], tuned.model.state_dict())
    assert runs["fp32"][0] == runs["auto"][0]
    for key, tensor in runs["fp32"][1].items():
        assert torch.equal(tensor, runs["auto"][1][key]), key


# ---- scoring ----


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-t5"])
def test_bf16_scoring_is_close_to_fp32(name, records):
    bundle = load_model(name, texts=texts_of(records), seed=0, precision="fp32")
    prompts, targets = [r["prompt"] for r in records], [r["completion"] for r in records]
    seen, handle = output_dtypes(bundle)
    full = target_nll(bundle, prompts, targets, batch_size=4)
    options = options_nll(bundle, prompts[0], ["yes", "no", "maybe"])
    assert set(seen) == {torch.float32}
    bundle.precision = "bf16"
    seen.clear()
    half = target_nll(bundle, prompts, targets, batch_size=4)
    half_options = options_nll(bundle, prompts[0], ["yes", "no", "maybe"])
    assert set(seen) == {torch.bfloat16}
    handle.remove()
    assert half.dtype == np.float64 and np.isfinite(half).all()
    np.testing.assert_allclose(half, full, atol=0.05, rtol=0.01)
    np.testing.assert_allclose(half_options, options, atol=0.05, rtol=0.01)


def test_bf16_generation_runs(records):
    from instr_select.tuning.modeling import generate

    bundle = load_model("tiny-gpt2", texts=texts_of(records), seed=0, precision="bf16")
    outputs = generate(bundle, [r["prompt"] for r in records[:3]], max_new_tokens=4)
    assert len(outputs) == 3 and all(isinstance(o, str) for o in outputs)


def test_scorer_cache_key_depends_on_precision(records):
    from instr_select.uncertainty.backend import BundleScorer, describe, model_hash

    bundle = load_model("tiny-t5", texts=texts_of(records), seed=0)
    fp32 = BundleScorer(bundle).model_id
    assert fp32 == model_hash(bundle)  # fp32 keeps the key caches were written under
    bundle.precision = "bf16"
    assert BundleScorer(bundle).model_id != fp32 and describe(bundle)["precision"] == "bf16"


def test_batches_pad_to_their_longest_and_training_groups_by_length(records):
    bundle = load_model("tiny-gpt2", texts=texts_of(records), seed=0)
    feats = features(bundle, ["short", "a much longer prompt than the other one"], ["x", "y"])
    batch = collator(bundle)(feats)
    longest = max(len(f["input_ids"]) for f in feats)
    assert batch["input_ids"].shape == (2, longest) and longest < bundle.max_source_length
    assert TuneConfig().group_by_length and TuneConfig().precision == "auto"


# ---- comparison, active runs and the CLI ----


def test_compare_budget_precision_and_hash():
    from instr_select.compare.config import Budget, CompareConfig

    with pytest.raises(ConfigError, match="--precision"):
        CompareConfig(targets=["bbh:navigate"], budget=Budget(precision="nope"))
    fp32 = CompareConfig(targets=["bbh:navigate"], budget=Budget(precision="fp32"))
    bf16 = CompareConfig(targets=["bbh:navigate"], budget=Budget(precision="bf16"))
    tiny = CompareConfig(targets=["bbh:navigate"], model="tiny-t5")
    assert tiny.resolved_precision() == "fp32" and bf16.resolved_precision() == "bf16"
    assert fp32.hash != bf16.hash
    assert CompareConfig(**{**fp32.to_dict(), "budget": {**fp32.to_dict()["budget"]}}).hash == fp32.hash
    old = {k: v for k, v in fp32.to_dict()["budget"].items() if k != "precision"}
    assert CompareConfig(targets=["bbh:navigate"], budget=old).hash == fp32.hash  # runs from before resume


def test_active_config_checks_precision():
    from instr_select.uncertainty.active import ActiveConfig

    assert ActiveConfig().precision == "auto"
    with pytest.raises(ConfigError, match="--precision"):
        ActiveConfig(precision="nope")


@pytest.mark.parametrize(
    "argv",
    [
        ["tune", "mix", "--out", "{tmp}/model"],
        ["evaluate", "--model", "tiny-t5", "--target", "bbh:navigate"],
        ["compare", "--target-task", "bbh:navigate", "--out", "{tmp}/run"],
        ["select", "--pool", "bigbench"],
        ["taskmap", "--pool", "bigbench"],
        ["active", "--pool", "bigbench", "--out", "{tmp}/active"],
    ],
)
def test_cli_refuses_an_unknown_precision_in_one_line(argv, tmp_path, capsys):
    from instr_select.cli.main import main

    with pytest.raises(SystemExit) as info:
        main([a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--precision", "nope"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "--precision" in err and "fp32" in err
