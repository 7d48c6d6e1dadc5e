"""``instr-select train-encoder``: align an instruction encoder to meta-datasets' templates."""

from __future__ import annotations

import shlex
import sys

import click

from instr_select.cli.options import data_dir_option, lenient_option, text_view_option
from instr_select.errors import ConfigError


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for the aligned model.")
@click.option(
    "--base-model",
    default=None,
    help="Model to start from: a registry name (see `instr-select models`: minilm, minilm-static, ...) or a "
    "local sentence-transformers / model2vec folder (default: a static encoder built from scratch).",
)
@click.option(
    "--recipe",
    type=click.Choice(["mnrl", "insta"]),
    default="mnrl",
    show_default=True,
    help="mnrl: in-batch negatives; insta: the published CosineSimilarityLoss recipe.",
)
@click.option("--epochs", type=int, default=None, help="Epochs (default: mnrl 3, insta 5).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option(
    "--lr", "learning_rate", type=float, default=None, help="Learning rate (default: static 0.02, transformer 1e-4)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--architecture",
    type=click.Choice(["static", "transformer"]),
    default="static",
    show_default=True,
    help="From-scratch base when no --base-model is given.",
)
@click.option(
    "--vocab-size", type=int, default=8000, show_default=True, help="WordPiece vocabulary of a from-scratch base."
)
@click.option("--dim", type=int, default=256, show_default=True, help="Embedding dimension of a from-scratch base.")
@click.option(
    "--dev-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of multi-instruction groups giving one held-out dev instruction (picks the checkpoint).",
)
@click.option(
    "--positives",
    "pairs_per_instruction",
    type=int,
    default=4,
    show_default=True,
    help="mnrl: positives drawn per instruction and epoch.",
)
@click.option(
    "--group-by",
    type=click.Choice(["source", "task", "category"]),
    default="source",
    show_default=True,
    help="Positives: instructions of one source dataset, of one task, or of one (first) category.",
)
@click.option(
    "--base-weight",
    type=float,
    default=0.0,
    show_default=True,
    help="Keep this share of the base model's weights after training (weight-space ensembling, 0 to <1).",
)
@click.option(
    "--mnrl-directions",
    type=click.Choice(["standard", "symmetric", "all"]),
    default="standard",
    show_default=True,
    help="mnrl: anchor->positive only, both ways, or all four in-batch directions (GTE).",
)
@click.option(
    "--pre-tokenizer",
    type=click.Choice(["bert", "jinja"]),
    default="bert",
    show_default=True,
    help="From-scratch WordPiece: BERT punctuation splitting, or Jinja markup and field names kept whole.",
)
@text_view_option("readable", "What the encoder sees of each instruction: Jinja templates as words, or raw.")
@data_dir_option
@lenient_option
def train_encoder(
    sources: tuple[str, ...],
    out: str,
    base_model: str | None,
    recipe: str,
    epochs: int | None,
    batch_size: int,
    learning_rate: float | None,
    seed: int,
    architecture: str,
    vocab_size: int,
    dim: int,
    dev_fraction: float,
    pairs_per_instruction: int,
    group_by: str,
    base_weight: float,
    mnrl_directions: str,
    pre_tokenizer: str,
    text_view: str,
    data_dir: str | None,
    lenient: bool,
) -> None:
    """Align an instruction encoder on SOURCE... (loader names or NAME=PATH).

    Positives are two instructions of the same task or source dataset; the model is saved at --out
    in sentence-transformers format with training_info.json.
    """
    from instr_select.encoder.train import AlignConfig
    from instr_select.loaders import load_sources

    config = AlignConfig(
        recipe=recipe,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        architecture=architecture,
        vocab_size=vocab_size,
        dim=dim,
        dev_fraction=dev_fraction,
        pairs_per_instruction=pairs_per_instruction,
        group_by=group_by,
        base_weight=base_weight,
        mnrl_directions=mnrl_directions,
        pre_tokenizer=pre_tokenizer,
        text_view=text_view,
    )
    config.validate()  # bad options fail before any data or model is loaded
    if base_model is not None:
        from instr_select.encoder.io import _check_model_dir, model_path

        _check_model_dir(model_path(base_model))  # a registry name is materialised and verified here
    tasks = load_sources(sources, data_dir=data_dir, lenient=lenient)
    if not len(tasks):
        raise ConfigError(f"the sources {', '.join(sources)} hold no tasks (nothing to train on)")
    from instr_select.encoder.train import train_encoder as train

    echo = lambda line: click.echo(line, err=True)  # noqa: E731
    echo(f"training on {len(tasks)} tasks from {', '.join(sources)}")
    path = train(tasks, base_model, out, config, command=shlex.join(["instr-select", *sys.argv[1:]]), progress=echo)
    click.echo(str(path))
