"""``instr-select sources`` and ``instr-select inspect``."""

from __future__ import annotations

import json

import click

from instr_select.cli.options import data_dir_option, lenient_option
from instr_select.loaders import LoadReport, get_loader, load_source, loader_names
from instr_select.loaders.options import parse_options


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sources(as_json: bool) -> None:
    """List the meta-dataset loaders and the layouts they read."""
    specs = [get_loader(name) for name in loader_names()]
    if as_json:
        rows = [
            {
                "name": s.name,
                "description": s.description,
                "layout": s.layout,
                "default_dir": s.default_subdir,
                "options": s.options,
            }
            for s in specs
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for spec in specs:
        click.echo(f"{spec.name:<14} {spec.description}")
        click.echo(f"{'':<14} reads: {spec.layout}")
        for key, text in spec.options.items():
            click.echo(f"{'':<14} option {key}: {text}")


@click.command()
@click.argument("source")
@click.argument("path", required=False, type=click.Path())
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Loader option (see `sources`).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@data_dir_option
@lenient_option
def inspect(
    source: str, path: str | None, options: tuple[str, ...], as_json: bool, data_dir: str | None, lenient: bool
) -> None:
    """Count the tasks, instructions, examples, categories and languages of SOURCE.

    SOURCE is a loader name (see `instr-select sources`); PATH defaults to its folder in the
    data directory.
    """
    report = LoadReport(lenient=lenient)
    tasks = load_source(source, path=path, data_dir=data_dir, report=report, **parse_options(options))
    counts = tasks.counts()
    counts["skipped"] = len(report.skipped)
    if as_json:
        click.echo(
            json.dumps({"source": source, **counts, "skipped_reasons": report.skipped, "notes": report.notes}, indent=2)
        )
        return
    click.echo(f"source        {source}")
    for key in ("tasks", "instructions", "examples", "tasks_with_examples", "categories", "sources"):
        click.echo(f"{key:<20} {counts[key]:,}")
    if len(counts["splits"]) > 1 or "-" not in counts["splits"]:
        click.echo("splits        " + ", ".join(f"{k} {v}" for k, v in counts["splits"].items()))
    if counts["languages"]:
        top = list(counts["languages"].items())[:8]
        click.echo("languages     " + ", ".join(f"{k} {v}" for k, v in top))
    if counts["top_categories"]:
        click.echo("categories    " + ", ".join(f"{k} {v}" for k, v in list(counts["top_categories"].items())[:6]))
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.skipped:
        click.echo(f"skipped {len(report.skipped)} bad task(s):")
        for reason in report.skipped[:20]:
            click.echo(f"  {reason}")
