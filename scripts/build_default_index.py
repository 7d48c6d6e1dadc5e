"""Build ``indexes/default`` from the recipe ``indexes/default.json`` (idempotent).

Materialises the recipe's pretrained base (``encoder.base``, a model-registry name), aligns it with
the encoder package's ``train_encoder`` on the recipe's ``alignment.sources`` (all sources when
absent; no alignment when ``alignment`` is null), then embeds every instruction with ``build_index``. Skips the work when an
index built from the same recipe (same recipe hash) is already there; ``--force`` retrains
the encoder and rebuilds.

    python scripts/build_default_index.py [--data-dir DIR] [--out indexes/default] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from instr_select.errors import InstrSelectError  # noqa: E402


def recipe_hash(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def existing_hash(out: Path) -> str | None:
    try:
        return json.loads((out / "manifest.json").read_text())["extra"]["recipe_hash"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return None


def build(args: argparse.Namespace) -> int:
    from instr_select.encoder import AlignConfig, train_encoder
    from instr_select.index import build_index
    from instr_select.loaders import load_sources

    recipe = json.loads(Path(args.recipe).read_text(encoding="utf-8"))
    digest = recipe_hash(recipe)
    out = Path(args.out)
    if not args.force and existing_hash(out) == digest:
        print(f"{out} is up to date (recipe {digest[:12]}); pass --force to rebuild")
        return 0
    started = time.perf_counter()
    tasks = load_sources(recipe["sources"], data_dir=args.data_dir)
    n_instr = sum(len(t.instructions) for t in tasks)
    print(f"loaded {len(tasks):,} tasks, {n_instr:,} instructions from {', '.join(recipe['sources'])}", flush=True)
    base = recipe["encoder"].get("base")  # a model-registry name; None: a static encoder built from scratch
    if base is not None:
        from instr_select.encoder.io import model_path

        print(f"base model {base}: {model_path(base)} ({time.perf_counter() - started:.1f} s)", flush=True)
    alignment = dict(recipe["alignment"]) if recipe.get("alignment") else None
    encoder_dir = out.parent / f".{out.name}-encoder-{digest[:12]}"
    if alignment is None:
        encoder_dir = model_path(base)
    else:
        align_sources = alignment.pop("sources", None)
        scratch = {k: v for k, v in recipe["encoder"].items() if k not in ("seed", "base")}
        config = AlignConfig(**alignment, **scratch)
        if args.force:
            shutil.rmtree(encoder_dir, ignore_errors=True)
        if not (encoder_dir / "modules.json").is_file():  # written atomically: present means complete
            from instr_select.tasks import TaskCollection

            train = tasks if not align_sources else TaskCollection(t for t in tasks if t.meta_dataset in align_sources)
            train_encoder(train, base, encoder_dir, config, command="scripts/build_default_index.py", progress=print)
    trained = time.perf_counter()
    print(f"encoder ready in {trained - started:.1f} s: {encoder_dir}", flush=True)
    command = "python scripts/build_default_index.py " + " ".join(sys.argv[1:])
    extra = {"recipe": recipe, "recipe_hash": digest, "recipe_file": str(args.recipe)}
    build_index(tasks, encoder_dir, out, factory=recipe.get("factory"), command=command.strip(), extra=extra)
    for stale in out.parent.glob(f".{out.name}-encoder-*"):  # encoders of earlier recipes
        if stale != encoder_dir:
            shutil.rmtree(stale, ignore_errors=True)
    done = time.perf_counter()
    print(f"indexed {n_instr:,} instructions in {done - trained:.1f} s ({n_instr / (done - trained):,.0f}/s): {out}")
    print(f"total {done - started:.1f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder of the meta-datasets (default ../shared/data)")
    parser.add_argument("--out", default=str(REPO / "indexes" / "default"))
    parser.add_argument("--recipe", default=str(REPO / "indexes" / "default.json"))
    parser.add_argument("--force", action="store_true", help="retrain the encoder and rebuild the index")
    args = parser.parse_args()
    try:
        return build(args)
    except InstrSelectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
