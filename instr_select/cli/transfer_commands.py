"""``instr-select transfer``: measure which source tasks help which targets (a transfer matrix)."""

from __future__ import annotations

import click

from instr_select.cli.options import data_dir_option, precision_option
from instr_select.compare.config import Budget
from instr_select.transfer.config import DEFAULT_BUDGET


@click.command()
@click.option(
    "--sources",
    "sources_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="File of SOURCE:TASK [KIND] lines: the tasks trained on, one at a time.",
)
@click.option(
    "--targets",
    "targets_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="File of SOURCE:TASK [KIND] lines: the tasks scored after each training.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Matrix directory (resumed if it exists).")
@click.option(
    "--model", default="smollm2-135m", show_default=True, help="Base model: registry name, tiny-gpt2 or a dir."
)
@click.option("--seeds", default="0,1", show_default=True, help="Comma-separated training seeds.")
@click.option(
    "--extra-seed-sources",
    type=int,
    default=0,
    show_default=True,
    help="Only the first N sources run the seeds after the first (0: all): reliability at less cost.",
)
@click.option("--shard", default=None, metavar="I/N", help="Compute only this share of the sources (1 <= I <= N).")
@click.option("--examples-per-task", type=int, default=DEFAULT_BUDGET["examples_per_task"], show_default=True)
@click.option("--max-steps", type=int, default=DEFAULT_BUDGET["max_steps"], show_default=True)
@click.option("--batch-size", type=int, default=DEFAULT_BUDGET["batch_size"], show_default=True)
@click.option("--learning-rate", type=float, default=None, help="Default: the model's (tiny 1e-3, full 5e-5).")
@click.option(
    "--eval-examples",
    type=int,
    default=DEFAULT_BUDGET["eval_examples"],
    show_default=True,
    help="Target examples scored (a fixed, seeded sample).",
)
@click.option("--max-source-length", type=int, default=DEFAULT_BUDGET["max_source_length"], show_default=True)
@precision_option()
@data_dir_option
def transfer(
    sources_file: str,
    targets_file: str,
    out: str,
    model: str,
    seeds: str,
    extra_seed_sources: int,
    shard: str | None,
    examples_per_task: int,
    max_steps: int,
    batch_size: int,
    learning_rate: float | None,
    eval_examples: int,
    max_source_length: int,
    precision: str,
    data_dir: str | None,
) -> None:
    """Train the model on each source alone and score every target: a transfer matrix in --out.

    Every (source, seed) is a cell file, so a re-run resumes; --shard I/N splits the sources between
    processes or machines. When every cell is finished the matrix is merged: transfer.npz,
    transfer.csv, manifest.json (with the split-half reliability) and heatmap.png.
    """
    from instr_select.errors import ConfigError
    from instr_select.progress import say
    from instr_select.transfer.config import TransferConfig, parse_shard, read_task_file
    from instr_select.transfer.run import merge, missing_cells, run_matrix

    part = parse_shard(shard)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {seeds!r} must be comma-separated whole numbers, e.g. 0,1") from None
    source_keys, source_kinds = read_task_file(sources_file, "--sources")
    target_keys, target_kinds = read_task_file(targets_file, "--targets")
    budget = Budget(
        examples_per_task=examples_per_task,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        eval_examples=eval_examples,
        max_source_length=max_source_length,
        precision=precision,
    )
    config = TransferConfig(
        sources=source_keys,
        targets=target_keys,
        kinds={**source_kinds, **target_kinds},
        model=model,
        budget=budget,
        seeds=seed_list,
        extra_seed_sources=extra_seed_sources,
    )
    from pathlib import Path

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one line per cell
    written = run_matrix(config, out, shard=part, data_dir=data_dir, say=say())
    missing = missing_cells(Path(out), config)
    if missing:
        click.echo(f"{len(written)} cells computed; {len(missing)} still missing (other shards): re-run to merge")
        return
    matrix = merge(out)
    rel = matrix.manifest["reliability"]["nll"]
    overall = "n/a" if rel["overall"] is None else f"{rel['overall']:.3f}"
    click.echo(
        f"matrix of {len(matrix.sources)} sources x {len(matrix.targets)} targets in {out} "
        f"(split-half Spearman, NLL view: {overall} over {rel['sources']} sources)"
    )
