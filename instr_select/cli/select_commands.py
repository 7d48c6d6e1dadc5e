"""``instr-select select``, ``taskmap`` and ``active``: prompt-uncertainty selection and active tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from instr_select.cli.options import data_dir_option, lenient_option, precision_option

SELECTOR_NAMES = ["uncertainty", "random", "high-ppl", "low-ppl"]


def _apply(func, options):
    for option in reversed(options):
        func = option(func)
    return func


def _pool_options(func, pool_size: int | None = None):
    size_help = "Use a seeded random subset of this many tasks" + (" (0: the whole pool)." if pool_size else ".")
    return _apply(
        func,
        [
            click.option(
                "--pool",
                "pool",
                multiple=True,
                required=True,
                metavar="SOURCE",
                help="Pool source, repeatable or comma-separated (NAME or NAME=PATH).",
            ),
            click.option(
                "--pool-size", type=int, default=pool_size, show_default=pool_size is not None, help=size_help
            ),
            click.option(
                "--skip-empty", is_flag=True, help="Leave out pool tasks without examples instead of failing."
            ),
            data_dir_option,
            lenient_option,
        ],
    )


def _score_options(func):
    return _apply(
        func,
        [
            click.option("--n-instances", type=int, default=10, show_default=True, help="Instances per task (n)."),
            click.option(
                "--perturbations", type=int, default=10, show_default=True, help="Perturbed instructions per task (k)."
            ),
            click.option("--drop-prob", type=float, default=0.2, show_default=True, help="Word drop probability."),
            click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice."),
            click.option("--max-new-tokens", type=int, default=32, show_default=True, help="Greedy output length."),
            click.option("--batch-size", type=int, default=16, show_default=True),
            precision_option("Scoring (and, for active, training)"),
            click.option(
                "--cache-dir",
                type=click.Path(file_okay=False),
                default=None,
                help="Score cache (default: <cache>/uncertainty; <cache> is $INSTR_SELECT_CACHE, else ~/.cache/instr-select).",
            ),
            click.option("--no-cache", is_flag=True, help="Neither read nor write the score cache."),
            click.option("--quiet", is_flag=True, help="No progress bar."),
        ],
    )


def _model_option(default: str | None):
    return click.option(
        "--model",
        default=default,
        show_default=default is not None,
        help="smollm2-135m (registry), a saved model dir, tiny-t5 / tiny-gpt2 (built on the pool's texts), or a hub name.",
    )


def _config(opts: dict[str, Any]):
    from instr_select.uncertainty.scoring import ScoreConfig

    return ScoreConfig(opts["n_instances"], opts["perturbations"], opts["drop_prob"], opts["seed"])


def _cache(opts: dict[str, Any]) -> Path | None:
    from instr_select.uncertainty.pool import default_cache_dir

    if opts["no_cache"]:
        return None
    return Path(opts["cache_dir"]) if opts["cache_dir"] else default_cache_dir()


def _pool(opts: dict[str, Any]):
    from instr_select.uncertainty.pool import load_pool

    size = opts["pool_size"] or None  # 0: the whole pool
    return load_pool(opts["pool"], opts["data_dir"], size, opts["seed"], opts["skip_empty"], opts["lenient"])


def _quiet_models(opts: dict[str, Any]) -> None:
    """--quiet also silences the loading/saving bars of transformers."""
    if opts["quiet"]:
        import transformers

        transformers.utils.logging.disable_progress_bar()


def _model_label(model: str) -> str:
    """A short model name for titles: the last two path parts of a directory."""
    parts = Path(model).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else model


def _report_short(scores) -> None:
    short = [s for s in scores if s.notes]
    if short:
        names = ", ".join(s.key for s in short[:5]) + (f" and {len(short) - 5} more" if len(short) > 5 else "")
        click.echo(
            f"note: {len(short)} task(s) have fewer than the asked instances, scored on those: {names}", err=True
        )


def _main_process() -> bool:
    from instr_select.uncertainty.scoring import world

    return world()[0] == 0


def _write_json(path: str | Path, payload: dict[str, Any]) -> None:
    from instr_select.atomic import write_json

    write_json(path, payload)


def _output_option(default: str | None, help: str):
    """``--out`` (``-o``/``--output``: old spellings, kept for a release) for a file a command writes."""
    return click.option(
        "--out",
        "-o",
        "--output",
        "output",
        type=click.Path(dir_okay=False),
        default=default,
        show_default=default is not None,
        help=f"{help} (-o/--output: old spellings).",
    )


@click.command()
@click.option("--selector", default="uncertainty", show_default=True, type=click.Choice(SELECTOR_NAMES))
@click.option("-k", "n", type=int, default=10, show_default=True, help="Number of tasks to select.")
@_output_option(None, "Write the selection JSON here")
@click.option("--scores", "scores_out", type=click.Path(dir_okay=False), default=None, help="Write all scores (JSON).")
@_model_option("smollm2-135m")
@_pool_options
@_score_options
def select(selector: str, n: int, output: str | None, scores_out: str | None, model: str | None, **opts: Any) -> None:
    """Select N pool tasks by prompt uncertainty, perplexity of the model's own outputs, or at random.

    Writes the selection format of `query --save`, so export, tune and compare take it as is.
    """
    from instr_select.errors import ConfigError
    from instr_select.uncertainty.pool import provenance
    from instr_select.uncertainty.selectors import needs_model, select_from_pool

    tasks = _pool(opts)
    scorer = None
    params: dict[str, Any] = {"pool": list(opts["pool"]), **provenance()}
    if needs_model(selector):
        if model is None:
            raise ConfigError(
                f"--selector {selector} scores the pool with a model: pass --model smollm2-135m (or DIR, tiny-t5)"
            )
        from instr_select.uncertainty.backend import describe, load_scorer

        _quiet_models(opts)
        scorer = load_scorer(model, tasks, opts["seed"], opts["max_new_tokens"], opts["batch_size"], opts["precision"])
        params.update(model=model, model_info=describe(scorer.bundle), max_new_tokens=opts["max_new_tokens"])
    selection, scores = select_from_pool(
        tasks, selector, n, scorer, _config(opts), _cache(opts), progress=not opts["quiet"], params=params
    )
    if not _main_process():
        return  # data-parallel scoring: the main process reports and writes
    _report_short(scores)
    for t in selection.tasks:
        click.echo(f"{t.rank:>3}  {t.score:>12.6g}  {t.key}")
    if output:
        selection.save(output)
        click.echo(f"wrote {output} ({len(selection.tasks)} tasks, selector {selector})", err=True)
    if scores_out:
        _write_json(scores_out, {"scores": [s.to_dict() for s in scores], "params": selection.params})


@click.command()
@_output_option("taskmap.png", "PNG to write")
@click.option(
    "--csv", "csv_out", type=click.Path(dir_okay=False), default=None, help="Scores CSV (default: beside -o)."
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Scores JSON (default: beside -o)."
)
@click.option("--pu-threshold", type=float, default=None, help="PU above this = ambiguous (default: median PU).")
@click.option("--pp-threshold", type=float, default=None, help="PP above this = easy (default: median PP of the rest).")
@click.option("--labels", type=int, default=0, show_default=True, help="Label this many tasks (most ambiguous first).")
@_model_option("smollm2-135m")
@_pool_options
@_score_options
def taskmap(
    output: str,
    csv_out: str | None,
    json_out: str | None,
    pu_threshold: float | None,
    pp_threshold: float | None,
    labels: int,
    model: str,
    **opts: Any,
) -> None:
    """Plot prompt uncertainty (x) against prediction probability (y) of every pool task, by region."""
    from instr_select.uncertainty.backend import describe, load_scorer
    from instr_select.uncertainty.pool import provenance
    from instr_select.uncertainty.scoring import score_tasks
    from instr_select.uncertainty.taskmap import plot_taskmap, thresholds, write_csv, write_json

    tasks = _pool(opts)
    _quiet_models(opts)
    scorer = load_scorer(model, tasks, opts["seed"], opts["max_new_tokens"], opts["batch_size"], opts["precision"])
    config = _config(opts)
    scores = score_tasks(scorer, tasks, config, cache_dir=_cache(opts), progress=not opts["quiet"])
    if not _main_process():
        return  # data-parallel scoring: the main process plots and writes
    _report_short(scores)
    limits = thresholds(scores, pu_threshold, pp_threshold)
    out = Path(output)
    csv_path = Path(csv_out) if csv_out else out.with_suffix(".csv")
    json_path = Path(json_out) if json_out else out.with_suffix(".json")
    info = {
        "model": model,
        "model_hash": scorer.model_id,
        "model_info": describe(scorer.bundle),
        "config": config.__dict__,
        "pool": list(opts["pool"]),
        "pool_size": len(tasks),
        **provenance(),
    }
    plot_taskmap(
        scores, limits, out, labels=labels, title=f"Task map ({', '.join(opts['pool'])}, {_model_label(model)})"
    )
    write_csv(scores, limits, csv_path)
    write_json(scores, limits, json_path, info)
    from collections import Counter

    from instr_select.uncertainty.taskmap import region

    counts = Counter(region(s, limits) for s in scores)
    click.echo(
        f"{len(scores)} tasks: " + ", ".join(f"{r} {counts.get(r, 0)}" for r in ("ambiguous", "easy", "difficult"))
    )
    click.echo(f"thresholds: PU {limits.pu:.4g}, PP {limits.pp:.4g}")
    click.echo(f"wrote {out}, {csv_path}, {json_path}")


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Run directory (resumable).")
@click.option("--iterations", type=int, default=3, show_default=True, help="Iterations, the random one included.")
@click.option("--per-iteration", type=int, default=4, show_default=True, help="Tasks added per iteration (N).")
@click.option(
    "--selectors", default="uncertainty,random", show_default=True, help="Comma-separated: " + ",".join(SELECTOR_NAMES)
)
@click.option("--held-out", type=int, default=4, show_default=True, help="Held-out pool tasks to evaluate on.")
@click.option("--eval", "eval_sources", multiple=True, metavar="SOURCE", help="Evaluate on these sources instead.")
@click.option("--max-examples-per-task", type=int, default=20, show_default=True, help="Training examples per task.")
@click.option("--eval-examples", type=int, default=20, show_default=True, help="Examples per held-out task.")
@click.option("--epochs", type=float, default=3.0, show_default=True)
@click.option("--learning-rate", type=float, default=None, help="Default: 1e-3 for tiny models, else 5e-5.")
@click.option("--train-batch-size", type=int, default=8, show_default=True)
@click.option("--metric", type=click.Choice(["rougeL", "exact_match", "mc_accuracy"]), default="rougeL")
@_model_option("smollm2-135m")
@(lambda f: _pool_options(f, pool_size=40))
@_score_options
def active(
    out: str,
    iterations: int,
    per_iteration: int,
    selectors: str,
    held_out: int,
    eval_sources: tuple[str, ...],
    max_examples_per_task: int,
    eval_examples: int,
    epochs: float,
    learning_rate: float | None,
    train_batch_size: int,
    metric: str,
    model: str,
    **opts: Any,
) -> None:
    """Active instruction tuning: iteration 0 on N random tasks, then add the top N by each selector.

    Each iteration retrains from the base model on the cumulative tasks and evaluates on held-out
    tasks; writes OUT/learning_curve.json and .png (one line per selector). Rerun to resume.
    """
    from instr_select.uncertainty.active import ActiveConfig, ActiveRun, split_pool
    from instr_select.uncertainty.pool import load_pool, provenance

    config = ActiveConfig(
        iterations=iterations,
        per_iteration=per_iteration,
        selectors=selectors,
        held_out=held_out,
        max_examples_per_task=max_examples_per_task,
        eval_examples=eval_examples,
        epochs=epochs,
        learning_rate=learning_rate,
        train_batch_size=train_batch_size,
        metric=metric,
        max_new_tokens=opts["max_new_tokens"],
        batch_size=opts["batch_size"],
        seed=opts["seed"],
        score=_config(opts),
        precision=opts["precision"],
    )
    pool = _pool(opts)
    _quiet_models(opts)
    evaluation = load_pool(eval_sources, opts["data_dir"], None, opts["seed"], True) if eval_sources else held_out
    train, held = split_pool(pool, evaluation, opts["seed"], metric)
    info = {"pool": list(opts["pool"]), **provenance()}
    run = ActiveRun(train, held, model, out, config, info, progress=not opts["quiet"], echo=click.echo)
    click.echo(f"pool {len(train)} tasks, held out {len(held)}: {', '.join(t.key for t in held)}")
    result = run.run()
    for selector, points in result["curves"].items():
        click.echo(f"{selector:<12} " + "  ".join(f"{p['n_tasks']}:{p['score']}" for p in points))
    click.echo(f"wrote {Path(out) / 'learning_curve.json'} and {Path(out) / 'learning_curve.png'}")
