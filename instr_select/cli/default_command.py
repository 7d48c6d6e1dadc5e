"""``instr-select build-default``: build the default index (``indexes/default`` in a checkout, else the per-user cache)."""

from __future__ import annotations

import click

from instr_select.cli.options import data_dir_option, quiet_option


@click.command()
@data_dir_option
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Index directory to write (default: $INSTR_SELECT_INDEX, else indexes/default in a source checkout,"
    " else <cache>/indexes/default).",
)
@click.option(
    "--recipe",
    default=None,
    help="Recipe JSON, or the name of one shipped with the package: `minilm` (the default: the aligned"
    " MiniLM transformer, queried through ONNX; set-up about 4 minutes) or `minilm-static` (aligned static"
    " embeddings: set-up about 1 minute and faster queries, lower quality on the held-out splits).",
)
@click.option("--force", is_flag=True, help="Retrain the encoder and rebuild even when up to date.")
@quiet_option
def build_default(data_dir: str | None, out: str | None, recipe: str | None, force: bool, quiet: bool) -> None:
    """Build the default index (the one `query` and `export` use) from any data directory."""
    from instr_select.index.default import build_default as build
    from instr_select.provenance import command_line

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    report = build(data_dir=data_dir, out=out, recipe=recipe, force=force, command=command_line(), say=say)
    if report.up_to_date:
        click.echo(f"{report.out} is up to date (recipe {report.recipe_hash[:12]}); pass --force to rebuild")
    else:
        click.echo(
            f"indexed {report.instructions:,} instructions of {report.tasks:,} tasks in {report.seconds:.1f} s: {report.out}"
        )
