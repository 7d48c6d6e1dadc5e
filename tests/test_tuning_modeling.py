"""The modeling contract: tiny models, save/load round trip, prompt format, generation and NLL."""

from __future__ import annotations

import numpy as np
import pytest

from instr_select.errors import ConfigError, DataError
from instr_select.tuning.modeling import format_prompt, generate, load_model, save_model, target_nll

TEXTS = [
    "Answer the question about dates.\n\nInput: today is monday\nOutput: tuesday",
    "Translate the sentence to French.\n\nInput: hello\nOutput: bonjour",
    "Pick the option that is correct.\n\nInput: (A) yes (B) no\nOutput: (A)",
] * 10


@pytest.fixture(scope="module", params=["tiny-t5", "tiny-gpt2"])
def bundle(request):
    return load_model(request.param, texts=TEXTS, seed=0)


def test_format_prompt_with_and_without_input():
    assert format_prompt(" Do it. ", " x ") == "Do it.\n\nInput: x\nOutput:"
    assert format_prompt("Do it.", "") == "Do it.\n\nOutput:"


def test_tiny_model_is_small_and_typed(bundle):
    assert bundle.info["kind"] == "tiny"
    assert bundle.info["parameters"] < 2_000_000
    assert bundle.is_encoder_decoder == (bundle.name == "tiny-t5")


def test_nll_shape_finite_and_batch_independent(bundle):
    prompts = [format_prompt("Answer.", "today is monday"), format_prompt("Say hi", ""), format_prompt("a", "b c d e")]
    targets = ["tuesday", "hi there, how are you", "(A)"]
    full = target_nll(bundle, prompts, targets, batch_size=3)
    single = np.array([target_nll(bundle, [p], [t], batch_size=1)[0] for p, t in zip(prompts, targets, strict=True)])
    assert full.shape == (3,) and np.isfinite(full).all() and (full > 0).all()
    np.testing.assert_allclose(full, single, rtol=1e-4, atol=1e-4)


def test_generate_batched_equals_single(bundle):
    prompts = [format_prompt("Answer.", "today is monday"), format_prompt("Say hi", ""), format_prompt("x", "y")]
    batched = generate(bundle, prompts, max_new_tokens=4, batch_size=3)
    single = [generate(bundle, [p], max_new_tokens=4)[0] for p in prompts]
    assert len(batched) == 3 and all(isinstance(t, str) for t in batched)
    assert batched == single


def test_deterministic_under_seed_and_save_roundtrip(bundle, tmp_path):
    prompts, targets = [format_prompt("Answer.", "monday")], ["tuesday"]
    again = load_model(bundle.name, texts=TEXTS, seed=0)
    other = load_model(bundle.name, texts=TEXTS, seed=1)
    base = target_nll(bundle, prompts, targets)
    np.testing.assert_allclose(target_nll(again, prompts, targets), base)
    assert not np.allclose(target_nll(other, prompts, targets), base)
    out = save_model(bundle, tmp_path / "m")
    loaded = load_model(out)
    assert loaded.is_encoder_decoder == bundle.is_encoder_decoder and loaded.info["kind"] == "tiny"
    np.testing.assert_allclose(target_nll(loaded, prompts, targets), base, rtol=1e-5)
    assert not list(tmp_path.glob(".m.*"))


def test_bad_models():
    with pytest.raises(ConfigError, match="hub is unreachable"):
        load_model("no-such-org/no-such-model-xyz")
    with pytest.raises(ConfigError, match="texts"):
        load_model("tiny-t5")


def test_not_a_model_dir(tmp_path):
    with pytest.raises(DataError, match="config.json"):
        load_model(tmp_path)


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-t5"])
def test_options_nll_equals_scoring_each_option_with_its_prompt(name):
    """Reading the prompt once (key/value cache) gives the same NLL as scoring prompt + option pairs."""
    from instr_select.tuning.modeling import load_model, options_nll, target_nll

    bundle = load_model(name, texts=["Pick the topic. Business Sports World Sci/Tech", "stocks rose today"], seed=0)
    prompt = "Pick the topic.\n\nInput: stocks rose today\nOutput:"
    options = ["Business", "Sports", "World news today", "Sci/Tech"]
    expected = target_nll(bundle, [prompt] * len(options), options)
    assert options_nll(bundle, prompt, options) == pytest.approx(expected, abs=1e-5)
