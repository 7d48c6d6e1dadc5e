"""``instr-select score-selectors`` (every selector's ranking of the sources against a finished matrix)
and ``instr-select split-targets`` (the matrix's targets split into dev and test, by kind)."""

from __future__ import annotations

import click

from instr_select.cli.options import data_dir_option
from instr_select.transfer.selectors import SELECTORS


@click.command()
@click.argument("matrix_dir", type=click.Path(file_okay=False))
@click.option("--selectors", default=",".join(SELECTORS), show_default=True, help="Comma-separated selectors to score.")
@click.option("-k", "k", type=int, default=5, show_default=True, help="Top-k of Regret@k and Precision@k.")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Report folder (default: MATRIX_DIR/selectors)."
)
@click.option(
    "--aligned-encoder",
    type=click.Path(),
    default=None,
    help="Encoder of 'aligned' and 'hybrid': an encoder or index folder (default: the default index's).",
)
@click.option(
    "--base-model",
    default=None,
    help="Model of 'uncertainty' (default: the matrix's: its base-model folder, else its manifest's model).",
)
@click.option(
    "--split",
    "split_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A dev/test split of the targets (from `split-targets`): one table per split as well.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of example samples and bootstraps.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@data_dir_option
def score(
    matrix_dir: str,
    selectors: str,
    k: int,
    out: str | None,
    aligned_encoder: str | None,
    base_model: str | None,
    split_file: str | None,
    seed: int,
    quiet: bool,
    data_dir: str | None,
) -> None:
    """Score selectors on the transfer matrix in MATRIX_DIR: NDCG, Regret@k and P@k against random.

    Writes report.md (one table), chart.png, results.json (every per-target value) and each
    selector's scores (scores/, reused when re-scoring the same matrix with the same settings).
    """
    from instr_select.errors import ConfigError
    from instr_select.transfer.evaluation import score_matrix
    from instr_select.transfer.selectors import SelectorConfig, check_selectors

    names = check_selectors(selectors)  # before anything loads
    if k < 1:
        raise ConfigError(f"-k must be 1 or more, not {k}")
    config = SelectorConfig(aligned_encoder=aligned_encoder, base_model=base_model, seed=seed)
    run = score_matrix(matrix_dir, names, k=k, out=out, data_dir=data_dir, config=config, split=split_file, quiet=quiet)
    click.echo(run.markdown)
    click.echo(f"report: {run.out / 'report.md'}\nchart:  {run.out / 'chart.png'}\njson:   {run.out / 'results.json'}")


@click.command("split-targets")
@click.argument("targets_file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The split file (JSON) to write.")
@click.option(
    "--dev-fraction", type=float, default=0.4, show_default=True, help="Dev's share of the targets (at most)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the kinds' shuffle.")
def split_targets(targets_file: str, out: str, dev_fraction: float, seed: int) -> None:
    """Split the targets of TARGETS_FILE (SOURCE:TASK KIND lines) into dev and test, whole kinds at a time.

    Draw it once, before any choice: choose settings on dev, report them on test
    (`score-selectors --split FILE`).
    """
    from instr_select.transfer.config import read_task_file
    from instr_select.transfer.split import split_by_kind, write_split

    targets, kinds = read_task_file(targets_file, "TARGETS_FILE")
    split = split_by_kind(targets, kinds, dev_fraction=dev_fraction, seed=seed)
    write_split(split, out)
    for name in ("dev", "test"):
        shown = sorted({split["kinds"][t] for t in split[name]})
        click.echo(f"{name}: {len(split[name])} targets ({', '.join(shown)})")
    click.echo(f"split: {out}")
