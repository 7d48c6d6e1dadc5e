"""``instr-select eval-retrieval``: leave-out retrieval evaluation of BM25, encoders and hybrid."""

from __future__ import annotations

import json
import shlex
import sys

import click

from instr_select.cli.options import data_dir_option, text_view_option


def _none(value: str | None) -> str | None:
    return None if value is None or value.lower() in ("none", "") else value


@click.command()
@click.option(
    "--out",
    default="runs/eval-retrieval",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for results.json, results.md, TREC runs/qrels and the encoders.",
)
@click.option(
    "--p3",
    "p3_source",
    default="promptsource",
    show_default=True,
    help="P3 source (loader name or promptsource=PATH); 'none' to skip.",
)
@click.option(
    "--niv2", "niv2_source", default="niv2", show_default=True, help="NIV2 source for category nDCG@10; 'none' to skip."
)
@click.option(
    "--bigbench",
    "bigbench_source",
    default="bigbench",
    show_default=True,
    help="BIG-bench source of the candidate splits (with --encoder); 'none' to skip.",
)
@click.option(
    "--bbh",
    "bbh_source",
    default="bbh",
    show_default=True,
    help="BBH source of the bbh-mixed queries (with --encoder; never indexed); 'none' to skip.",
)
@click.option(
    "--encoder",
    "encoders",
    multiple=True,
    help="Score this encoder (registry name or model folder; repeatable) on the candidate splits of the README's"
    " table (unseen P3 templates by dataset, unseen NIV2 and BIG-bench tasks), beside BM25 and hybrid.",
)
@click.option(
    "--align",
    is_flag=True,
    help="With --encoder: also align each encoder on the splits' training part with the packaged recipe of"
    " its name (minilm, minilm-static; see build-default --recipe).",
)
@click.option(
    "--min-templates", type=int, default=4, show_default=True, help="Hold out one template of datasets with this many."
)
@click.option("--niv2-max-queries", type=int, default=None, help="Subsample NIV2 queries (seeded).")
@click.option(
    "--aligned-encoder",
    default=None,
    type=click.Path(),
    help="Reuse an aligned encoder (trained without the held-out templates) instead of training one.",
)
@click.option("--recipe", type=click.Choice(["mnrl", "insta"]), default="mnrl", show_default=True)
@click.option("--epochs", type=int, default=None, help="Alignment epochs (default: mnrl 3, insta 5).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--vocab-size", type=int, default=8000, show_default=True)
@click.option("--dim", type=int, default=256, show_default=True)
@click.option("-k", "k", type=int, default=10, show_default=True, help="Tasks retrieved per query.")
@click.option("--aggregate", type=click.Choice(["max", "mean", "top2", "vote"]), default="max", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@text_view_option("readable", "What encoders and BM25 see of each template: Jinja as words, or raw.")
@click.option("--json", "as_json", is_flag=True, help="Print results.json instead of the table.")
@data_dir_option
def eval_retrieval(
    out: str,
    p3_source: str,
    niv2_source: str,
    bigbench_source: str,
    bbh_source: str,
    encoders: tuple[str, ...],
    align: bool,
    min_templates: int,
    niv2_max_queries: int | None,
    aligned_encoder: str | None,
    recipe: str,
    epochs: int | None,
    batch_size: int,
    vocab_size: int,
    dim: int,
    k: int,
    aggregate: str,
    seed: int,
    text_view: str,
    as_json: bool,
    data_dir: str | None,
) -> None:
    """Leave-out evaluation of BM25, encoders and hybrid fusion on instructions the index never saw.

    With --encoder: the candidate table of the README (P3 templates by dataset, Success@1 / RR@10;
    NIV2 and BIG-bench tasks by category and keyword, nDCG@10; dev and test parts). Without it: a
    from-scratch static encoder, untrained and aligned, on P3 templates (by file and by dataset) and
    NIV2 categories.
    """
    from instr_select.encoder.train import AlignConfig
    from instr_select.errors import ConfigError
    from instr_select.evaluation.retrieval_eval import EvalConfig, evaluate_retrieval, results_table

    command = shlex.join(["instr-select", *sys.argv[1:]])
    if encoders:
        if aligned_encoder is not None:
            raise ConfigError("--aligned-encoder is for the from-scratch evaluation; with --encoder use --align")
        sources = {"promptsource": p3_source, "niv2": niv2_source, "bigbench": bigbench_source, "bbh": bbh_source}
        _candidates(encoders, align, sources, aggregate, seed, out, as_json, data_dir, command)
        return
    if align:
        raise ConfigError("--align needs --encoder (the encoders to align)")

    if min_templates < 2:
        raise ConfigError(f"--min-templates must be 2 or more, not {min_templates}")
    if niv2_max_queries is not None and niv2_max_queries < 1:
        raise ConfigError(f"--niv2-max-queries must be 1 or more, not {niv2_max_queries}")
    align = AlignConfig(
        recipe=recipe,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        vocab_size=vocab_size,
        dim=dim,
        text_view=text_view,
    )
    align.validate()
    config = EvalConfig(
        p3_source=_none(p3_source),
        niv2_source=_none(niv2_source),
        min_templates=min_templates,
        seed=seed,
        k=k,
        niv2_max_queries=niv2_max_queries,
        aggregate=aggregate,
        aligned_encoder=aligned_encoder,
        align=align,
    )
    report = evaluate_retrieval(
        config,
        out,
        data_dir=data_dir,
        progress=lambda line: click.echo(line, err=True),
        command=command,
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(results_table(report["results"]))
        click.echo(f"written to {out} (results.json, results.md, *.run, *.qrels)")


def _candidates(encoders, align, sources, aggregate, seed, out, as_json, data_dir, command) -> None:
    from instr_select.encoder.io import model_path
    from instr_select.errors import ConfigError
    from instr_select.evaluation.candidates import evaluate_candidates, prepare_splits
    from instr_select.index.default import packaged_recipes
    from instr_select.loaders import load_source
    from instr_select.offline import ensure_offline

    ensure_offline()
    for encoder in encoders:  # a missing recipe, then unknown names and missing packages fail before any data is read
        if align and encoder not in packaged_recipes():
            raise ConfigError(
                f"--align: no packaged alignment recipe for {encoder!r} (packaged: {', '.join(packaged_recipes())});"
                " align it with `instr-select train-encoder` and pass the folder to --encoder"
            )
    for encoder in encoders:
        model_path(encoder)  # materialised (and hash-checked) on first use
    loaded = {name: load_source(spec, data_dir=data_dir) for name, spec in sources.items() if _none(spec)}
    if not loaded:
        raise ConfigError("nothing to evaluate: give --p3, --niv2 or --bigbench")
    splits = prepare_splits(seed=seed, loaded=loaded)
    report = evaluate_candidates(
        list(encoders),
        splits,
        out,
        align=align,
        aggregate=aggregate,
        progress=lambda line: click.echo(line, err=True),
        command=command,
    )
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.items() if k != "table"}, indent=2))
    else:
        click.echo(report["table"])
        click.echo(f"written to {out} (results.json, results.md)")
