"""The default index: built from a recipe shipped with the package.

``build_default`` reads the recipe (``instr_select/recipes/minilm.json`` unless another is
given; a source checkout shows it as ``indexes/default.json``, a link to that one file), trains the encoder it describes with ``train_encoder`` on the recipe's sources (from
scratch, or from ``encoder.base``: a model-registry name or a local model directory; with
``"alignment": null`` the base is used as it is; ``alignment.sources`` limits alignment to some
meta-datasets), and embeds every instruction with
``build_index``. It is idempotent: an index built from the same recipe
(same recipe hash) is left alone unless ``force``. Nothing depends on where the package is
installed: the data comes from ``--data-dir`` / ``INSTR_SELECT_DATA``, the index goes to
``default_index_dir()`` (``INSTR_SELECT_INDEX``, ``indexes/default`` in a checkout, or the per-user cache).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from instr_select.errors import DataError
from instr_select.paths import default_index_dir

RECIPE_PACKAGE = "instr_select.recipes"
DEFAULT_RECIPE = "minilm.json"  # recipes are named after their encoder base


def packaged_recipes() -> list[str]:
    """Names of the recipes shipped with the package (each named after its encoder base)."""
    return sorted(p.name[:-5] for p in resources.files(RECIPE_PACKAGE).iterdir() if p.name.endswith(".json"))


def alignment_config(recipe: dict[str, Any]):
    """(``AlignConfig``, the meta-datasets it aligns on or None for all) of a recipe read by
    :func:`read_recipe`; (None, None) when the recipe indexes its encoder base as it is."""
    from instr_select.encoder import AlignConfig

    if recipe["alignment"] is None:
        return None, None
    alignment = dict(recipe["alignment"])
    sources = alignment.pop("sources", None)
    encoder = {k: v for k, v in recipe["encoder"].items() if k not in ("seed", "base")}
    return AlignConfig(**alignment, **encoder), sources


def read_recipe(recipe: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """(recipe, where it came from): a file path, a packaged recipe's name (``minilm-static``), or the default."""
    if recipe is None:
        text = resources.files(RECIPE_PACKAGE).joinpath(DEFAULT_RECIPE).read_text(encoding="utf-8")
        origin = f"{RECIPE_PACKAGE}/{DEFAULT_RECIPE}"
    elif not Path(recipe).is_file() and resources.files(RECIPE_PACKAGE).joinpath(f"{recipe}.json").is_file():
        text = resources.files(RECIPE_PACKAGE).joinpath(f"{recipe}.json").read_text(encoding="utf-8")
        origin = f"{RECIPE_PACKAGE}/{recipe}.json"
    else:
        path = Path(recipe)
        if not path.is_file():
            names = ", ".join(packaged_recipes())
            raise DataError(path, "does not exist", f"pass a recipe JSON or a packaged recipe ({names})")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(origin, f"is not valid JSON ({exc})", "fix the recipe") from None
    missing = [key for key in ("sources", "encoder", "alignment") if not isinstance(data, dict) or key not in data]
    if missing:
        raise DataError(origin, f"recipe has no {missing[0]!r}", "give sources, encoder and alignment")
    return data, origin


def recipe_hash(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def up_to_date(out: Path, digest: str) -> bool:
    """Whether the index at ``out`` was built from the recipe of hash ``digest`` in this version's
    index format (an older format, e.g. one without answer lengths, is rebuilt)."""
    from instr_select.index.manifest import FORMAT_VERSION, MANIFEST_FILE

    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text())
        return manifest["extra"]["recipe_hash"] == digest and manifest["format_version"] == FORMAT_VERSION
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return False


def _base_model(name: str | None) -> str | None:
    """The recipe's ``encoder.base`` (a registry name or a local model directory) as a local path."""
    if not name:
        return None
    from instr_select.models import resolve_model

    return str(resolve_model(name))


@dataclass
class BuildReport:
    """What ``build_default`` did: where, whether it was up to date, and how long it took."""

    out: Path
    recipe_hash: str
    up_to_date: bool = False
    tasks: int = 0
    instructions: int = 0
    seconds: float = 0.0


def build_default(
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    recipe: str | Path | None = None,
    force: bool = False,
    command: str | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> BuildReport:
    """Build the default index at ``out`` (default ``default_index_dir()``) from ``recipe``."""
    from instr_select.encoder import train_encoder
    from instr_select.index import build_index
    from instr_select.loaders import load_sources

    recipe_data, origin = read_recipe(recipe)
    digest = recipe_hash(recipe_data)
    out = Path(out) if out is not None else default_index_dir()
    if not force and up_to_date(out, digest):
        return BuildReport(out, digest, up_to_date=True)
    started = time.perf_counter()
    tasks = load_sources(recipe_data["sources"], data_dir=data_dir)
    n_instr = sum(len(t.instructions) for t in tasks)
    say(f"loaded {len(tasks):,} tasks, {n_instr:,} instructions from {', '.join(recipe_data['sources'])}")
    base = _base_model(recipe_data["encoder"].get("base"))
    out.parent.mkdir(parents=True, exist_ok=True)
    config, align_sources = alignment_config(recipe_data)
    if config is None:  # a pretrained encoder used as it is
        if base is None:
            raise DataError(origin, "recipe has no alignment and no encoder base", "give one of them")
        encoder_dir = Path(base)
    else:
        encoder_dir = out.parent / f".{out.name}-encoder-{digest[:12]}"
        if force:
            shutil.rmtree(encoder_dir, ignore_errors=True)
        if not (encoder_dir / "modules.json").is_file():  # written atomically: present means complete
            from instr_select.tasks import TaskCollection

            train = tasks if not align_sources else TaskCollection(t for t in tasks if t.meta_dataset in align_sources)
            train_encoder(train, base, encoder_dir, config, command=command, progress=say)
    say(f"encoder ready in {time.perf_counter() - started:.1f} s: {encoder_dir}")
    extra = {"recipe": recipe_data, "recipe_hash": digest, "recipe_file": origin}
    build_index(tasks, encoder_dir, out, factory=recipe_data.get("factory"), command=command, extra=extra)
    for stale in out.parent.glob(f".{out.name}-encoder-*"):  # encoders of earlier recipes
        if stale != encoder_dir and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return BuildReport(out, digest, False, len(tasks), n_instr, time.perf_counter() - started)
