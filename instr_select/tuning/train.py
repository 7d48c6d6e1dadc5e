"""Instruction tuning with Hugging Face transformers.

Encoder-decoder models train with ``Seq2SeqTrainer``; decoder-only models with ``Trainer`` on
prompt + completion, the loss masked to the completion tokens. Tokenization is the one of
``modeling`` (same prompts, eos and truncation as evaluation and scoring). Multi-GPU: run the
same command under ``accelerate launch`` or ``torchrun``; the Trainer handles the processes.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instr_select.errors import ConfigError, DataError
from instr_select.provenance import command_line, library_versions
from instr_select.tuning.modeling import ModelBundle, collator, cpu_threads, features, save_model
from instr_select.tuning.precision import bundle_precision, check_precision

if TYPE_CHECKING:
    import datasets

TINY_LEARNING_RATE = 1e-3  # models trained from scratch need a larger step than pretrained ones
PRETRAINED_LEARNING_RATE = 5e-5  # SuperNI / Tk-Instruct T5 fine-tuning
MAX_PASSES = 20  # --max-steps may cycle the mixture at most this many times
LORA_LEARNING_RATE = 5e-4  # adapters start at zero and need a larger step


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
    method: str = "full"  # "full" fine-tuning or "lora" (peft adapters, merged into the saved model)
    lora_rank: int = 16
    group_by_length: bool = True  # batches of similar length: less padding (each padded to its longest)
    precision: str = "auto"  # auto (bf16 where the hardware computes it natively), bf16 (autocast) or fp32

    def __post_init__(self) -> None:
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("--epochs must be positive (or give --max-steps)")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ConfigError("--batch-size and --grad-accum must be at least 1")
        if self.method not in ("full", "lora"):
            raise ConfigError(f"--method must be full or lora, not {self.method!r}")
        if self.lora_rank < 1:
            raise ConfigError(f"--lora-rank must be at least 1, not {self.lora_rank}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ConfigError(f"--learning-rate must be positive, not {self.learning_rate}")
        check_precision(self.precision)

    def resolved_learning_rate(self, bundle: ModelBundle) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        if bundle.info.get("kind") == "tiny":
            return TINY_LEARNING_RATE
        return LORA_LEARNING_RATE if self.method == "lora" else PRETRAINED_LEARNING_RATE


def _features(bundle: ModelBundle, records: Sequence[dict[str, Any]]) -> list[dict[str, list[int]]]:
    return features(bundle, [r["prompt"] for r in records], [r["completion"] for r in records])


def _add_lora(bundle: ModelBundle, config: TuneConfig) -> None:
    """Wrap the model in peft LoRA adapters on every linear layer of the attention and MLP blocks."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=2 * config.lora_rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="SEQ_2_SEQ_LM" if bundle.is_encoder_decoder else "CAUSAL_LM",
    )
    bundle.model = get_peft_model(bundle.model, lora)


def check_budget(config: TuneConfig, examples: int, world_size: int = 1) -> None:
    """More steps than the examples allow at this batch size (one epoch = a pass over them) is an error."""
    per_step = config.batch_size * config.gradient_accumulation_steps * world_size
    if config.max_steps > 0 and config.max_steps * per_step > examples * MAX_PASSES:
        raise ConfigError(
            f"--max-steps {config.max_steps} x batch {per_step} needs {config.max_steps * per_step} examples, but the "
            f"mixture has {examples} (at most {MAX_PASSES} passes): lower --max-steps or --batch-size, "
            f"or export more examples"
        )


def _as_records(records: Sequence[dict] | datasets.Dataset) -> list[dict[str, Any]]:
    rows = [dict(r) for r in records]
    if not rows:
        raise DataError(None, "the mixture has no records", "export a mixture with at least one example")
    for number, row in enumerate(rows, start=1):
        for key in ("prompt", "completion"):
            if key not in row:
                raise DataError(None, f"record {number} lacks {key!r}", "pass records with 'prompt' and 'completion'")
            if not isinstance(row[key], str):
                raise DataError(
                    None,
                    f"record {number}: {key!r} must be a string, not {type(row[key]).__name__}",
                    "pass records with string 'prompt' and 'completion'",
                )
    return rows


def _drop_autocast_wrapper(model: Any) -> None:
    """Undo accelerate's bf16 autocast wrapper of ``model.forward``, so the trained model runs as its
    bundle's precision says (the Trainer leaves it in place)."""
    if "_original_forward" in vars(model):
        from accelerate.utils import extract_model_from_parallel

        extract_model_from_parallel(model, keep_fp32_wrapper=False)


def tune(
    bundle: ModelBundle,
    records: Sequence[dict] | datasets.Dataset,
    config: TuneConfig,
    out: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
) -> ModelBundle:
    """Train ``bundle`` on the records; save to ``out`` (with ``training_info.json``) when given.

    ``config.precision`` bf16 trains with mixed precision (the Trainer's ``bf16``: fp32 weights, the
    forward pass under bf16 autocast); the returned bundle scores at the same precision. ``callbacks``:
    transformers ``TrainerCallback`` objects (e.g. a benchmark's step timer)."""
    import datasets
    import torch
    import transformers
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer

    rows = _as_records(records)
    if config.max_source_length:
        bundle.info["max_source_length"] = config.max_source_length
    if config.max_target_length:
        bundle.info["max_target_length"] = config.max_target_length
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    check_budget(config, len(rows), world_size=world_size)
    transformers.set_seed(config.seed)
    if config.method == "lora":
        _add_lora(bundle, config)
    train_set = datasets.Dataset.from_list(_features(bundle, rows))
    lr = config.resolved_learning_rate(bundle)
    precision = bundle_precision(bundle, config.precision)
    bf16 = precision == "bf16"
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
            train_sampling_strategy="group_by_length" if config.group_by_length else "random",
            ddp_backend="gloo" if world_size > 1 and not torch.cuda.is_available() else None,
            bf16=bf16,
            use_cpu=bf16 and bundle.device.type == "cpu",  # transformers allows bf16 on a CPU only when told so
        )
        trainer_class = Seq2SeqTrainer if bundle.is_encoder_decoder else Trainer
        trainer = trainer_class(
            model=bundle.model,
            args=args,
            train_dataset=train_set,
            data_collator=collator(bundle),
            callbacks=list(callbacks) or None,
        )
        from instr_select.progress import use_bar

        use_bar(trainer, "tuning", quiet=not config.progress)
        trainable = sum(p.numel() for p in bundle.model.parameters() if p.requires_grad)
        start = time.perf_counter()
        with cpu_threads(bundle):
            result = trainer.train()
        seconds = time.perf_counter() - start
        _drop_autocast_wrapper(trainer.model)
        history = [h for h in trainer.state.log_history if "loss" in h]
    if config.method == "lora":
        bundle.model = bundle.model.merge_and_unload()  # a plain model again: loads and scores like any other
    bundle.model.eval()
    bundle.precision = config.precision
    training = {
        "base_model": bundle.name,
        "model_kind": bundle.info.get("kind", "local"),
        "is_encoder_decoder": bundle.is_encoder_decoder,
        "config": {**asdict(config), "learning_rate": lr},
        "seed": config.seed,
        "precision": precision,
        "examples": len(rows),
        "steps": result.global_step,
        "world_size": args.world_size,
        "examples_seen": result.global_step * config.batch_size * config.gradient_accumulation_steps * args.world_size,
        "train_loss": result.training_loss,
        "first_logged_loss": history[0]["loss"] if history else None,
        "last_logged_loss": history[-1]["loss"] if history else None,
        "seconds": round(seconds, 2),
        "examples_per_second": result.metrics.get("train_samples_per_second"),
        "trainable_parameters": trainable,
        "versions": library_versions("torch", "transformers", "datasets", "accelerate", "peft"),
        "command": command_line(),
        **(provenance or {}),
    }
    bundle.info["training"] = training
    if out is not None and trainer.is_world_process_zero():
        save_model(bundle, out, extra_files={"training_info.json": training})
    return bundle
