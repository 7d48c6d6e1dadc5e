"""The scoring interface on a real model, through the tuning backend (``instr_select.tuning.modeling``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instr_select.errors import ConfigError
from instr_select.tasks import Task

if TYPE_CHECKING:
    import numpy as np

    from instr_select.tuning.modeling import ModelBundle


def model_hash(bundle: ModelBundle) -> str:
    """A content hash of a model's weights and tokenizer vocabulary (the score cache key)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(bundle.model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    vocab = bundle.tokenizer.get_vocab()
    h.update(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode("utf-8"))
    h.update(b"enc-dec" if bundle.is_encoder_decoder else b"causal")
    return h.hexdigest()


def check_bundle(bundle: ModelBundle, where: str) -> None:
    """A tokenizer whose ids exceed the model's embedding table is a mismatched pair."""
    embeddings = bundle.model.get_input_embeddings().num_embeddings
    if len(bundle.tokenizer) > embeddings:
        raise ConfigError(
            f"model {where}: tokenizer has {len(bundle.tokenizer)} tokens but the model embeds only {embeddings} "
            f"(model and tokenizer do not belong together; save both with the same tune run)"
        )


def scoring_id(bundle: ModelBundle) -> str:
    """The score cache key: the model's hash, mixed with ``bf16`` when it scores in bf16 (fp32 scores
    keep the plain hash, so caches written before precisions existed still apply)."""
    from instr_select.tuning.precision import bundle_precision

    digest = model_hash(bundle)
    precision = bundle_precision(bundle)
    return digest if precision == "fp32" else hashlib.sha256(f"{digest}:{precision}".encode()).hexdigest()


class BundleScorer:
    """:class:`~instr_select.uncertainty.scoring.Scorer` backed by a :class:`ModelBundle` (scoring at the
    bundle's precision)."""

    def __init__(self, bundle: ModelBundle, max_new_tokens: int = 32, batch_size: int = 16, where: str = "") -> None:
        check_bundle(bundle, where or bundle.name)
        self.bundle = bundle
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.model_id = scoring_id(bundle)

    def prompt(self, instruction: str, input: str) -> str:
        from instr_select.tuning.modeling import format_prompt

        return format_prompt(instruction, input)

    def generate(self, prompts: Sequence[str]) -> list[str]:
        from instr_select.tuning.modeling import generate

        return generate(self.bundle, prompts, max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)

    def target_nll(self, prompts: Sequence[str], targets: Sequence[str]) -> np.ndarray:
        from instr_select.tuning.modeling import target_nll

        # all perturbations of an instance (plus I0) go through in one batch
        return target_nll(self.bundle, prompts, targets, batch_size=max(self.batch_size, len(prompts)))


def tokenizer_texts(tasks: Sequence[Task], max_examples: int = 20) -> list[str]:
    """Texts a tiny model's tokenizer is trained on: instructions and a few examples per task."""
    texts: list[str] = []
    for task in tasks:
        texts.extend(task.instructions)
        for e in task.examples[:max_examples]:
            texts.extend((e.input, e.output))
    return texts


def load_bundle(model: str | Path, tasks: Sequence[Task] = (), seed: int = 0, precision: str = "auto") -> ModelBundle:
    """``tiny-t5``/``tiny-gpt2`` (tokenizer trained on ``tasks``), a saved directory or a hub name."""
    from instr_select.tuning.modeling import TINY_MODELS, load_model

    texts = tokenizer_texts(tasks) if str(model) in TINY_MODELS else None
    return load_model(model, texts=texts, seed=seed, precision=precision)


def load_scorer(
    model: str | Path,
    tasks: Sequence[Task] = (),
    seed: int = 0,
    max_new_tokens: int = 32,
    batch_size: int = 16,
    precision: str = "auto",
) -> BundleScorer:
    bundle = load_bundle(model, tasks, seed, precision)
    return BundleScorer(bundle, max_new_tokens, batch_size, where=str(model))


def describe(bundle: ModelBundle) -> dict[str, Any]:
    from instr_select.tuning.precision import bundle_precision

    return {
        "name": bundle.name,
        "is_encoder_decoder": bundle.is_encoder_decoder,
        **bundle.info,
        "precision": bundle_precision(bundle),
    }
