"""``instr-select transfer score``: every selector's ranking of the sources against a finished matrix."""

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
    run = score_matrix(matrix_dir, names, k=k, out=out, data_dir=data_dir, config=config, quiet=quiet)
    click.echo(run.markdown)
    click.echo(f"report: {run.out / 'report.md'}\nchart:  {run.out / 'chart.png'}\njson:   {run.out / 'results.json'}")
