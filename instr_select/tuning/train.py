"""Instruction tuning with Hugging Face transformers.

Encoder-decoder models train with ``Seq2SeqTrainer``; decoder-only models with ``Trainer`` on
prompt + completion, the loss masked to the completion tokens. Tokenization is the one of
``modeling`` (same prompts, eos and truncation as evaluation and scoring). Multi-GPU: run the
same command under ``accelerate launch`` or ``torchrun``; the Trainer handles the processes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instr_select.errors import ConfigError, DataError
from instr_select.provenance import command_line, library_versions
from instr_select.tuning.modeling import (
    ModelBundle,
    causal_features,
    cpu_threads,
    encode_prompts,
    encode_targets,
    save_model,
)

if TYPE_CHECKING:
    import datasets

TINY_LEARNING_RATE = 1e-3  # models trained from scratch need a larger step than pretrained ones
PRETRAINED_LEARNING_RATE = 5e-5  # SuperNI / Tk-Instruct T5 fine-tuning


@dataclass
class TuneConfig:
    """Training options. Defaults follow SuperNI/Tk-Instruct (2 epochs, lr 5e-5, target 128 tokens)."""

    epochs: float = 2.0
    learning_rate: float | None = None  # None: 1e-3 for tiny models, 5e-5 otherwise
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_source_length: int | None = None  # None: the model's (512 tiny/hub; Tk-Instruct used 1024)
    max_target_length: int | None = None  # None: 128
    warmup: float = 0.0  # steps, or a fraction of all steps when below 1
    weight_decay: float = 0.0
    max_steps: int = -1
    seed: int = 0
    logging_steps: int = 10
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("--epochs must be positive (or give --max-steps)")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ConfigError("--batch-size and --grad-accum must be at least 1")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ConfigError(f"--learning-rate must be positive, not {self.learning_rate}")

    def resolved_learning_rate(self, bundle: ModelBundle) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return TINY_LEARNING_RATE if bundle.info.get("kind") == "tiny" else PRETRAINED_LEARNING_RATE


def _features(bundle: ModelBundle, records: Sequence[dict[str, Any]]) -> list[dict[str, list[int]]]:
    prompts = [r["prompt"] for r in records]
    targets = [r["completion"] for r in records]
    src, tgt = encode_prompts(bundle, prompts), encode_targets(bundle, targets)
    if bundle.is_encoder_decoder:
        return [{"input_ids": s, "attention_mask": [1] * len(s), "labels": t} for s, t in zip(src, tgt, strict=True)]
    rows = []
    for s, t in zip(src, tgt, strict=True):
        ids, labels = causal_features(s, t)
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return rows


class _CausalCollator:
    """Right-pads input ids with pad, labels with -100."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)

        def pad(key: str, value: int) -> Any:
            return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features])

        return {
            "input_ids": pad("input_ids", self.pad_id),
            "attention_mask": pad("attention_mask", 0),
            "labels": pad("labels", -100),
        }


def _as_records(records: Sequence[dict] | datasets.Dataset) -> list[dict[str, Any]]:
    rows = [dict(r) for r in records]
    if not rows:
        raise DataError(None, "the mixture has no records", "export a mixture with at least one example")
    missing = [k for k in ("prompt", "completion") if k not in rows[0]]
    if missing:
        raise DataError(None, f"records lack {missing[0]!r}", "pass records with 'prompt' and 'completion'")
    return rows


def tune(
    bundle: ModelBundle,
    records: Sequence[dict] | datasets.Dataset,
    config: TuneConfig,
    out: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
) -> ModelBundle:
    """Train ``bundle`` on the records; save to ``out`` (with ``training_info.json``) when given."""
    import datasets
    import transformers
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer

    rows = _as_records(records)
    if config.max_source_length:
        bundle.info["max_source_length"] = config.max_source_length
    if config.max_target_length:
        bundle.info["max_target_length"] = config.max_target_length
    transformers.set_seed(config.seed)
    train_set = datasets.Dataset.from_list(_features(bundle, rows))
    lr = config.resolved_learning_rate(bundle)
    with tempfile.TemporaryDirectory(prefix="instr-select-tune-") as work:
        args = Seq2SeqTrainingArguments(
            output_dir=work,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps,
            learning_rate=lr,
            per_device_train_batch_size=config.batch_size,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            warmup_steps=config.warmup,
            weight_decay=config.weight_decay,
            seed=config.seed,
            data_seed=config.seed,
            logging_steps=config.logging_steps,
            save_strategy="no",
            eval_strategy="no",
            report_to=[],
            disable_tqdm=True,  # instr_select.progress.use_bar draws the bar, on stderr
            remove_unused_columns=False,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
        )
        if bundle.is_encoder_decoder:
            collator = DataCollatorForSeq2Seq(bundle.tokenizer, model=bundle.model, label_pad_token_id=-100)
            trainer = Seq2SeqTrainer(model=bundle.model, args=args, train_dataset=train_set, data_collator=collator)
        else:
            collator = _CausalCollator(bundle.tokenizer.pad_token_id)
            trainer = Trainer(model=bundle.model, args=args, train_dataset=train_set, data_collator=collator)
        from instr_select.progress import use_bar

        use_bar(trainer, "tuning", quiet=not config.progress)
        start = time.perf_counter()
        with cpu_threads(bundle):
            result = trainer.train()
        seconds = time.perf_counter() - start
        history = [h for h in trainer.state.log_history if "loss" in h]
    bundle.model.eval()
    training = {
        "base_model": bundle.name,
        "model_kind": bundle.info.get("kind", "local"),
        "is_encoder_decoder": bundle.is_encoder_decoder,
        "config": {**asdict(config), "learning_rate": lr},
        "seed": config.seed,
        "examples": len(rows),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "first_logged_loss": history[0]["loss"] if history else None,
        "last_logged_loss": history[-1]["loss"] if history else None,
        "seconds": round(seconds, 2),
        "examples_per_second": result.metrics.get("train_samples_per_second"),
        "versions": library_versions("torch", "transformers", "datasets", "accelerate"),
        "command": command_line(),
        **(provenance or {}),
    }
    bundle.info["training"] = training
    if out is not None and trainer.is_world_process_zero():
        save_model(bundle, out, extra_files={"training_info.json": training})
    return bundle
