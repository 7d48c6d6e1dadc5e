"""``instr-select tune`` and ``instr-select evaluate``."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click

from instr_select.atomic import write_json
from instr_select.cli.options import data_dir_option, precision_option
from instr_select.errors import ConfigError


def _resolved_model_path(name: str) -> str:
    """The directory a model name or path stands for (absolute), or the name when it is not local."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    try:
        from instr_select.models import resolve_model  # the model registry, where installed
    except ImportError:
        return name
    try:
        return str(resolve_model(name))
    except Exception:  # noqa: BLE001 - a name the registry does not know (tiny-t5, a hub id) stays as given
        return name


@click.command()
@click.argument("mixture", type=click.Path())
@click.option(
    "--model",
    "model_name",
    default="smollm2-135m",
    show_default=True,
    help="smollm2-135m (registry), tiny-t5, tiny-gpt2, a local model directory or a hub name.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for the tuned model.")
@click.option("--epochs", default=2.0, show_default=True, help="Training epochs (SuperNI: 2).")
@click.option(
    "--learning-rate",
    "--lr",
    "learning_rate",
    type=float,
    default=None,
    help="Default: 1e-3 for tiny models, 5e-5 for full fine-tuning, 5e-4 for LoRA.",
)
@click.option("--batch-size", default=8, show_default=True, help="Per-device batch size.")
@click.option("--grad-accum", default=1, show_default=True, help="Gradient accumulation steps.")
@click.option("--max-source-length", type=int, default=None, help="Prompt tokens kept (default 512).")
@click.option("--max-target-length", type=int, default=None, help="Target tokens kept (default 128).")
@click.option("--max-steps", default=-1, show_default=True, help="Stop after this many steps (overrides --epochs).")
@click.option("--seed", default=0, show_default=True, help="Model initialisation and data order seed.")
@click.option(
    "--method",
    type=click.Choice(["full", "lora"]),
    default="full",
    show_default=True,
    help="Full fine-tuning, or LoRA adapters (peft) merged into the saved model.",
)
@click.option("--lora-rank", type=int, default=16, show_default=True, help="LoRA rank (with --method lora).")
@precision_option("Training")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tune(
    mixture: str,
    model_name: str,
    out: str,
    epochs: float,
    learning_rate: float | None,
    batch_size: int,
    grad_accum: int,
    max_source_length: int | None,
    max_target_length: int | None,
    max_steps: int,
    seed: int,
    method: str,
    lora_rank: int,
    precision: str,
    quiet: bool,
) -> None:
    """Instruction-tune a model on MIXTURE (a directory written by `instr-select export`)."""
    from instr_select.progress import enabled as progress_enabled
    from instr_select.tuning.mixture import MANIFEST, load_mixture
    from instr_select.tuning.modeling import load_model
    from instr_select.tuning.train import TuneConfig
    from instr_select.tuning.train import tune as run_tune

    config = TuneConfig(
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        max_source_length=max_source_length,
        max_target_length=max_target_length,
        max_steps=max_steps,
        seed=seed,
        progress=progress_enabled(quiet),
        method=method,
        lora_rank=lora_rank,
        precision=precision,
    )
    loaded = load_mixture(mixture)
    texts = [r["prompt"] + r["completion"] for r in loaded.records]
    bundle = load_model(model_name, texts=texts, seed=seed)
    provenance = {
        "mixture": str(Path(mixture).resolve()),
        "mixture_hash": loaded.manifest.get("mixture_hash"),
        "mixture_manifest": MANIFEST,
        "mixture_target": loaded.manifest.get("target"),
        "mixture_query": loaded.manifest.get("query"),
    }
    bundle = run_tune(bundle, loaded.records, config, out=out, provenance=provenance)
    info = bundle.info["training"]
    if int(os.environ.get("RANK", "0")) != 0:
        return  # data-parallel: the main process reports (and saved the model)
    click.echo(
        f"trained {bundle.name} ({info['model_kind']}) on {info['examples']} examples: {info['steps']} steps, "
        f"{_loss_text(info)}{info['seconds']} s; saved to {out}"
    )


def _loss_text(info: dict) -> str:
    """``loss A -> B, `` from the logged losses, the mean training loss when none was logged, else nothing."""
    first, last = info.get("first_logged_loss"), info.get("last_logged_loss")
    if first is not None and last is not None:
        return f"loss {first} -> {last}, "
    mean = info.get("train_loss")
    if isinstance(mean, (int, float)) and math.isfinite(mean):
        return f"mean loss {mean:.4g}, "
    return ""


@click.command()
@click.option("--model", "model_path", required=True, help="Tuned model directory (or tiny/hub name for a baseline).")
@click.option("--target", required=True, metavar="SOURCE:TASK", help="Target task, e.g. bbh:date_understanding.")
@click.option("--max-examples", default=100, show_default=True, help="Examples scored (seeded sample).")
@click.option("--batch-size", default=16, show_default=True, help="Generation and scoring batch size.")
@click.option("--max-new-tokens", default=32, show_default=True, help="Greedy generation length.")
@click.option("--seed", default=0, show_default=True, help="Example sampling seed.")
@click.option(
    "--out",
    "report_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Report JSON (default: MODEL/eval_<target>.json).",
)
@precision_option("Scoring")
@data_dir_option
def evaluate(
    model_path: str,
    target: str,
    max_examples: int,
    batch_size: int,
    max_new_tokens: int,
    seed: int,
    report_path: str | None,
    precision: str,
    data_dir: str | None,
) -> None:
    """Score a tuned model on a target task: exact match, ROUGE-L, multiple-choice accuracy."""
    from instr_select.tuning.evaluate import evaluate_task, load_target
    from instr_select.tuning.modeling import load_model

    if max_examples < 1:
        raise ConfigError(f"--max-examples must be at least 1, not {max_examples}")
    task = load_target(target, data_dir)
    if not task.examples:
        from instr_select.errors import DataError

        raise DataError(None, f"target {task.key!r} has no examples", "pick a target task with examples")
    texts = [task.instructions[0], *(e.input for e in task.examples[:50])]
    bundle = load_model(model_path, texts=texts, seed=seed, precision=precision)
    from instr_select.progress import bar as progress_bar

    with progress_bar(total=None, desc="evaluating", unit="example") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = evaluate_task(bundle, task, max_examples, batch_size, max_new_tokens, seed, progress=progress)
    report["model_path"] = str(model_path)
    report["model_path_resolved"] = _resolved_model_path(model_path)
    if report_path is None:
        base = Path(model_path) if Path(model_path).is_dir() else Path(".")
        from instr_select.paths import file_stem

        report_path = str(base / f"eval_{file_stem(task.key)}.json")
    out = write_json(report_path, report)
    m = report["metrics"]
    click.echo(
        f"{task.key}: {report['examples']} examples  exact_match={m['exact_match']}  rougeL={m['rougeL']}  "
        f"mc_accuracy={m['mc_accuracy']} ({m['mc_examples']} with options)  report: {out}"
    )
