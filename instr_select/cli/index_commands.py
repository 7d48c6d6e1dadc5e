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
    default=None,
    help="A registry name (see `instr-select models`: minilm-static, minilm, ...), a sentence-transformers or "
    "model2vec folder, or 'static' (the default) to build the untrained static encoder on the sources. With --add: "
    "checked against the index's own encoder.",
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
@click.option(
    "--cards",
    default=None,
    metavar="FIELDS",
    help="Embed each instruction with its task's card: comma-separated fields of answer (the answer space its "
    "examples or answer_choices show) and category. Queries stay as written. With --add: the index's own.",
)
@data_dir_option
@lenient_option
def build_index(
    sources: tuple[str, ...],
    out: str,
    encoder: str | None,
    factory: str | None,
    add: tuple[str, ...],
    seed: int,
    text_view: str | None,
    cards: str | None,
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
    from instr_select.cards import check_fields
    from instr_select.locking import output_lock

    fields = check_fields([f.strip() for f in cards.split(",") if f.strip()]) if cards is not None else None
    if add and fields is not None:
        _check_same_cards(out, fields)  # before anything is loaded or written
    with output_lock(out):  # a second run into the same --out fails here, before any work
        _build(sources, out, encoder, factory, add, seed, text_view, data_dir, lenient, fields or ())


def _build(sources, out, encoder, factory, add, seed, text_view, data_dir, lenient, cards) -> None:
    from instr_select.index import add_to_index
    from instr_select.index import build_index as build
    from instr_select.index.manifest import command_line
    from instr_select.loaders import LoadReport, load_sources

    if add and encoder is not None and encoder != "static":
        _check_same_encoder(out, encoder)  # before anything is loaded or written
    encoder = encoder or "static"
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
            from instr_select.index.store import carded_texts, task_records

            texts = view_all(carded_texts(*task_records(tasks, cards=cards)), text_view)  # what will be embedded
            model = build_static_encoder(texts, seed=seed)
        path = build(tasks, model, out, factory=factory, command=command_line(), text_view=text_view, cards=cards)
        verb = "indexed"
    instructions = sum(len(t.instructions) for t in tasks)
    seconds = time.perf_counter() - started
    click.echo(f"{verb} {instructions:,} instructions of {len(tasks):,} tasks into {path} in {seconds:.1f} s")
    if report.skipped:
        click.echo(f"skipped {len(report.skipped)} bad task(s)")


def _check_same_cards(index_dir: str, fields: tuple[str, ...]) -> None:
    """--add with --cards: the index must embed the same card fields (one-line DataError otherwise)."""
    from pathlib import Path

    from instr_select.errors import DataError
    from instr_select.index.manifest import Manifest

    have = tuple(Manifest.read(Path(index_dir)).cards)
    if have != fields:
        said = f"cards ({','.join(have)})" if have else "no cards"
        raise DataError(
            index_dir,
            f"index embeds {said}, not --cards {','.join(fields) or 'none'}",
            "drop --cards (--add always embeds with the index's own cards) or rebuild the index with these",
        )


def _check_same_encoder(index_dir: str, encoder: str) -> None:
    """--add with --encoder: the index must have been built with that encoder (one-line DataError otherwise)."""
    from pathlib import Path

    from instr_select.encoder.io import model_path
    from instr_select.errors import DataError
    from instr_select.hashing import dir_hash
    from instr_select.index.manifest import Manifest

    manifest = Manifest.read(Path(index_dir))
    path = model_path(encoder)
    if not path.is_dir():
        raise DataError(path, "encoder directory does not exist", "pass the encoder the index was built with")
    if dir_hash(path) != manifest.encoder.get("hash"):
        raise DataError(
            index_dir,
            f"index was built with encoder {manifest.encoder.get('identity')}, not {encoder}",
            "drop --encoder (--add always embeds with the index's own encoder) or rebuild the index with this one",
        )
