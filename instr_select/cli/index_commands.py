"""``instr-select build-index``: embed meta-datasets into an index directory, or append to one."""

from __future__ import annotations

import time

import click

from instr_select.cli.options import data_dir_option, lenient_option, text_view_option
from instr_select.errors import ConfigError


@click.command()
@click.argument("sources", nargs=-1)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Index directory to write.")
@click.option(
    "--encoder",
    default="static",
    show_default=True,
    help="Sentence-transformers model folder, or 'static' to build the untrained static encoder on the sources.",
)
@click.option(
    "--factory", default=None, help="FAISS factory string (default: Flat below 20k instructions, else HNSW32)."
)
@click.option("--add", "add", multiple=True, metavar="SOURCE", help="Append SOURCE to the existing index at --out.")
@click.option("--seed", default=0, show_default=True, help="Seed for building the 'static' encoder.")
@text_view_option(
    None,
    "What encoder and BM25 see of each instruction: 'readable' (Jinja templates as words) or 'raw'. "
    "Default: the encoder's training view (training_info.json), else readable.",
)
@data_dir_option
@lenient_option
def build_index(
    sources: tuple[str, ...],
    out: str,
    encoder: str,
    factory: str | None,
    add: tuple[str, ...],
    seed: int,
    text_view: str | None,
    data_dir: str | None,
    lenient: bool,
) -> None:
    """Embed every instruction of SOURCE... (loader names or NAME=PATH) into the index --out.

    With --add SOURCE, append new meta-datasets to the index at --out without re-embedding it.
    """
    if add and sources:
        raise ConfigError("give either SOURCE... (new index) or --add SOURCE (append), not both")
    if not add and not sources:
        raise ConfigError("name at least one SOURCE to index (see `instr-select sources`)")
    from instr_select.locking import output_lock

    with output_lock(out):  # a second run into the same --out fails here, before any work
        _build(sources, out, encoder, factory, add, seed, text_view, data_dir, lenient)


def _build(sources, out, encoder, factory, add, seed, text_view, data_dir, lenient) -> None:
    from instr_select.index import add_to_index
    from instr_select.index import build_index as build
    from instr_select.index.manifest import command_line
    from instr_select.loaders import LoadReport, load_sources

    report = LoadReport(lenient=lenient)
    started = time.perf_counter()
    tasks = load_sources(add or sources, data_dir=data_dir, report=report)
    if not len(tasks):
        raise ConfigError(f"the sources {', '.join(add or sources)} hold no tasks (nothing to index)")
    if add:
        if factory or text_view:
            raise ConfigError("--factory and --text-view cannot change an existing index; rebuild it instead")
        path = add_to_index(out, tasks, command=command_line())
        verb = "added"
    else:
        model = encoder
        if encoder == "static":
            from instr_select.encoder import build_static_encoder
            from instr_select.textview import DEFAULT_TEXT_VIEW, view_all

            text_view = text_view or DEFAULT_TEXT_VIEW
            texts = view_all([text for task in tasks for text in task.instructions], text_view)
            model = build_static_encoder(texts, seed=seed)
        path = build(tasks, model, out, factory=factory, command=command_line(), text_view=text_view)
        verb = "indexed"
    instructions = sum(len(t.instructions) for t in tasks)
    seconds = time.perf_counter() - started
    click.echo(f"{verb} {instructions:,} instructions of {len(tasks):,} tasks into {path} in {seconds:.1f} s")
    if report.skipped:
        click.echo(f"skipped {len(report.skipped)} bad task(s)")
