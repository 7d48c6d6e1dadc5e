"""``instr-select export``: selected tasks -> a training mixture directory in trainer formats."""

from __future__ import annotations

from pathlib import Path

import click

from instr_select.cli.options import data_dir_option
from instr_select.errors import ConfigError
from instr_select.selection import Selection

FORMAT_CHOICES = ("alpaca", "messages", "prompt-completion", "hf")


def _select(
    target: str | None,
    target_task: str | None,
    tasks_file: str | None,
    k: int,
    index: str | None,
    method: str,
    meta_datasets: tuple[str, ...],
    data_dir: str | None,
) -> Selection:
    given = [
        name for name, value in (("--target", target), ("--target-task", target_task), ("--tasks", tasks_file)) if value
    ]
    if len(given) != 1:
        raise ConfigError('give exactly one of --target "INSTRUCTION", --target-task SOURCE:TASK or --tasks FILE')
    if tasks_file:
        from instr_select.tuning.mixture import read_task_list

        return read_task_list(tasks_file)
    if k < 1:
        raise ConfigError(f"-k must be at least 1, not {k}")
    from instr_select.retrieval import query

    if target_task:
        from instr_select.tuning.evaluate import load_target

        task = load_target(target_task, data_dir)
        selection = query(
            task.instructions[0],
            index=index,
            k=k,
            method=method,
            meta_datasets=list(meta_datasets) or None,
            exclude_source_of=task.key,
            data_dir=data_dir,
        )
        selection.target = task.key
        return selection
    assert target is not None
    return query(target, index=index, k=k, method=method, meta_datasets=list(meta_datasets) or None, data_dir=data_dir)


@click.command()
@click.option("--target", default=None, help="Target instruction: retrieve the tasks most related to it.")
@click.option(
    "--target-task",
    default=None,
    metavar="SOURCE:TASK",
    help="Target task (its instruction is the query; its source is left out).",
)
@click.option(
    "--tasks",
    "tasks_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Selection JSON or file of META_DATASET:TASK_ID lines.",
)
@click.option("-k", default=10, show_default=True, help="Number of tasks to retrieve.")
@click.option(
    "--index",
    default=None,
    type=click.Path(file_okay=False),
    help="Index directory (default: $INSTR_SELECT_INDEX, else the one `build-default` writes).",
)
@click.option(
    "--method",
    default="dense",
    show_default=True,
    type=click.Choice(["dense", "bm25", "hybrid"]),
    help="Retrieval method.",
)
@click.option(
    "--meta-dataset", "meta_datasets", multiple=True, help="Only retrieve tasks of this meta-dataset (repeatable)."
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Mixture directory to write.")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(FORMAT_CHOICES),
    help="Export format (repeatable; default: all).",
)
@click.option("--max-per-task", default=100, show_default=True, help="Examples sampled per task.")
@click.option(
    "--weighting",
    default="uniform",
    show_default=True,
    type=click.Choice(["uniform", "score"]),
    help="score: per-task count proportional to the selection score.",
)
@click.option("--positive-examples", default=0, show_default=True, help="NIV2: demonstrations added to the definition.")
@click.option("--seed", default=0, show_default=True, help="Sampling and shuffling seed.")
@click.option(
    "--llama-factory",
    default=None,
    metavar="NAME",
    help="Dataset name in LLaMA-Factory's dataset_info.json (default: instr_select; NAME_messages for messages).",
)
@data_dir_option
def export(
    target: str | None,
    target_task: str | None,
    tasks_file: str | None,
    k: int,
    index: str | None,
    method: str,
    meta_datasets: tuple[str, ...],
    out: str,
    formats: tuple[str, ...],
    max_per_task: int,
    weighting: str,
    positive_examples: int,
    seed: int,
    llama_factory: str | None,
    data_dir: str | None,
) -> None:
    """Turn selected tasks into a training mixture (mixture.json + records + trainer formats)."""
    from instr_select.tuning.export import check_formats
    from instr_select.tuning.mixture import MixtureConfig, build_records, save_mixture

    config = MixtureConfig(
        max_per_task=max_per_task, seed=seed, weighting=weighting, positive_examples=positive_examples
    )
    chosen_formats = check_formats(list(formats) or list(FORMAT_CHOICES), llama_factory)
    selection = _select(target, target_task, tasks_file, k, index, method, meta_datasets, data_dir)
    mixture = build_records(selection, config, data_dir=data_dir)
    path = save_mixture(mixture, Path(out), chosen_formats, llama_factory)
    manifest = mixture.manifest
    click.echo(f"wrote {manifest['examples']} examples from {len(manifest['tasks'])} tasks to {path}")
    for row in manifest["tasks"]:
        click.echo(
            f"  {row['rank']:>3}  {row['meta_dataset']}:{row['task_id']}  score={row['score']:.4f}  examples={row['examples']}"
        )
    if manifest["tasks_without_examples"]:
        click.echo(f"  skipped (no examples): {', '.join(manifest['tasks_without_examples'])}", err=True)
    click.echo(f"files: {', '.join(manifest['files'])}")
