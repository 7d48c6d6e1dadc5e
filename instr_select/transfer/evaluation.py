"""Score selectors on a finished matrix: scores (cached), metrics, and the report files.

``OUT`` (default ``MATRIX_DIR/selectors``) receives ``report.md`` (one table), ``results.json``
(every per-target value, the settings and the timings), ``chart.png`` and ``scores/``: each
selector's (S, T) scores as ``<selector>.npy`` beside ``<selector>.json``, whose ``key`` hashes the
sources, targets and the selector's settings (models by content hash), so re-scoring reads them back.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.errors import ConfigError, DataError
from instr_select.transfer.matrix import TransferMatrix
from instr_select.transfer.selectors import SELECTORS, SelectorConfig, check_selectors, selector_settings

DEFAULT_OUT = "selectors"
SCORES_DIR = "scores"


@dataclass
class ScoreRun:
    """What :func:`score_matrix` wrote, and how long each selector took (``cached``: read back)."""

    report: dict[str, Any]
    markdown: str
    out: Path
    timings: dict[str, dict[str, Any]]


def matrix_base_model(matrix_dir: Path, matrix: TransferMatrix) -> str:
    """The model the matrix's cells start from: its ``base-model`` folder (tiny models), else its ``model``."""
    folder = matrix_dir / "base-model"
    if folder.is_dir():
        return str(folder)
    model = matrix.manifest.get("model")
    if not isinstance(model, str) or not model:
        raise DataError(matrix_dir / "manifest.json", "names no model", "pass --base-model for 'uncertainty'")
    from instr_select.tuning.modeling import TINY_MODELS

    if model in TINY_MODELS:
        raise DataError(matrix_dir, f"has no base-model folder for its {model}", "pass --base-model")
    return model


def score_key(sources: Sequence[str], targets: Sequence[str], settings: dict[str, Any]) -> str:
    """A hash of the sources, targets and settings; a model counts by its content hash, not its path."""

    def content(value: Any) -> Any:
        if isinstance(value, dict):
            hashed = "hash" in value
            return {k: content(v) for k, v in value.items() if not (hashed and k in ("path", "name"))}
        return value

    text = json.dumps(
        {"sources": list(sources), "targets": list(targets), "settings": content(settings)}, sort_keys=True
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_scores(folder: Path, selector: str, key: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached scores of ``selector`` when their key matches, else None."""
    try:
        meta = json.loads((folder / f"{selector}.json").read_text(encoding="utf-8"))
        if meta.get("key") != key:
            return None
        scores = np.load(folder / f"{selector}.npy", allow_pickle=False)
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return None
    return scores if scores.shape == shape else None


def write_scores(folder: Path, selector: str, key: str, scores: np.ndarray, record: dict[str, Any]) -> None:
    from instr_select.atomic import atomic_file, write_json

    with atomic_file(folder / f"{selector}.npy") as tmp, tmp.open("wb") as handle:
        np.save(handle, np.asarray(scores, dtype=np.float64))
    write_json(folder / f"{selector}.json", {"key": key, **record})


def score_matrix(
    matrix_dir: str | Path,
    selectors: str | Sequence[str] = SELECTORS,
    k: int = 5,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    config: SelectorConfig | None = None,
    uncertainty_cache: str | Path | None = None,
    split: str | Path | None = None,
    quiet: bool = True,
) -> ScoreRun:
    """Score ``selectors`` on the matrix in ``matrix_dir``; writes report.md, results.json, chart.png.

    ``config.base_model`` None: the matrix's own base model. ``uncertainty_cache`` None: the per-user
    uncertainty cache (``<cache>/uncertainty``), shared with ``instr-select select``. ``split``: a
    dev/test split file (:mod:`instr_select.transfer.split`); each side is scored on its own as well
    (``report["splits"]``) and gets its own table.
    """
    from instr_select.progress import say
    from instr_select.transfer.scoring import chart, markdown, score_selectors

    names = check_selectors(selectors)  # an unknown name stops here, before anything loads
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"-k must be a whole number of at least 1, not {k!r}")
    matrix_dir = Path(matrix_dir)
    matrix = TransferMatrix.load(matrix_dir)
    sides = None
    if split is not None:
        from instr_select.transfer.split import read_split

        sides = read_split(split, matrix.targets)  # a bad split stops here, before anything loads
    out = Path(out) if out is not None else matrix_dir / DEFAULT_OUT
    config = config or SelectorConfig()
    own_model = "uncertainty" in names and not config.base_model
    if own_model:
        config = replace(config, base_model=matrix_base_model(matrix_dir, matrix))
    settings = {name: selector_settings(name, config) for name in names if name != "random"}
    expected = matrix.manifest.get("model_sha256")
    if own_model and expected and settings["uncertainty"]["model"]["hash"] != expected:
        raise DataError(
            matrix_dir,
            f"its base model {config.base_model} no longer matches the manifest's model_sha256",
            "pass --base-model with the model the matrix was made with",
        )
    if uncertainty_cache is None:
        from instr_select.uncertainty.pool import default_cache_dir

        uncertainty_cache = default_cache_dir()

    shape = (len(matrix.sources), len(matrix.targets))
    folder = out / SCORES_DIR
    scores: dict[str, np.ndarray] = {}
    timings: dict[str, dict[str, Any]] = {}
    scorer = None
    for name, setting in settings.items():
        start = time.perf_counter()
        key = score_key(matrix.sources, matrix.targets, setting)
        found = read_scores(folder, name, key, shape)
        cached = found is not None
        if found is None:
            if scorer is None:
                scorer, load_seconds = _scorer(matrix, data_dir, config, uncertainty_cache, quiet)
                timings["load tasks"] = {"seconds": load_seconds, "cached": False}
                start = time.perf_counter()
            say(quiet)(f"scoring the sources with {name} ...")
            found = scorer.scores(name)
            seconds = time.perf_counter() - start
            write_scores(folder, name, key, found, {"settings": setting, "seconds": round(seconds, 3)})
        timings[name] = {"seconds": time.perf_counter() - start, "cached": cached}
        scores[name] = found
    start = time.perf_counter()
    report = score_selectors(matrix, scores, k=k, seed=config.seed)
    report.update(matrix=str(matrix_dir), model=matrix.manifest.get("model"), settings=settings)
    report["config"] = asdict(config)
    text = markdown(report)
    if sides is not None:
        report["split"] = {"file": str(split), **sides}
        report["splits"] = {}
        for side, members in sides.items():
            part = score_selectors(matrix, scores, k=k, seed=config.seed, targets=members)
            report["splits"][side] = part["views"]
            text += f"\n{side} targets ({len(members)}):\n\n" + markdown(part, legend=False)
    chart(report, out / "chart.png")
    timings["metrics and report"] = {"seconds": time.perf_counter() - start, "cached": False}
    report["timings"] = {name: round(t["seconds"], 3) for name, t in timings.items()}
    _write(out, matrix_dir, matrix, report, text)
    return ScoreRun(report, text, out, timings)


def _scorer(matrix: TransferMatrix, data_dir, config: SelectorConfig, uncertainty_cache, quiet: bool):
    from instr_select.transfer.selectors import SourceScorer
    from instr_select.tuning.evaluate import load_tasks

    start = time.perf_counter()
    sources, targets = load_tasks(matrix.sources, data_dir), load_tasks(matrix.targets, data_dir)
    scorer = SourceScorer(sources, targets, config, uncertainty_cache=uncertainty_cache, progress=not quiet)
    return scorer, time.perf_counter() - start


def _write(out: Path, matrix_dir: Path, matrix: TransferMatrix, report: dict[str, Any], text: str) -> None:
    from instr_select.atomic import write_json, write_text

    model = matrix.manifest.get("model", "?")
    header = (
        f"# Selectors against the transfer matrix\n\nMatrix: `{matrix_dir}` ({model}; {len(matrix.sources)} "
        f"sources, {len(matrix.targets)} targets, {len(matrix.seeds)} seed(s)); k = {report['k']}.\n\n"
    )
    write_text(out / "report.md", header + text + "\n![selectors minus random](chart.png)\n")
    write_json(out / "results.json", _plain(report))


def _plain(value: Any) -> Any:
    """NaN -> None, so results.json is strict JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def disagreeing_targets(matrix_dir: str | Path, count: int, k: int = 5, out: str | Path | None = None) -> list[str]:
    """The ``count`` targets of a scored matrix where the selectors' top ``k`` overlap least.

    Reads the scores ``score-selectors`` saved (``OUT/scores``, default ``MATRIX_DIR/selectors``);
    a target's agreement is the mean Jaccard overlap of every pair of selectors' top-k sources.
    ``compare --matrix`` trains on these targets: where the selectors agree, training cannot tell them apart.
    """
    matrix_dir = Path(matrix_dir)
    matrix = TransferMatrix.load(matrix_dir)
    folder = (Path(out) if out is not None else matrix_dir / DEFAULT_OUT) / SCORES_DIR
    shape = (len(matrix.sources), len(matrix.targets))
    scores = {}
    for path in sorted(folder.glob("*.npy")):
        values = np.load(path, allow_pickle=False)
        if values.shape != shape:
            raise DataError(path, f"holds scores of shape {values.shape}, not {shape}", "re-run score-selectors")
        scores[path.stem] = values
    if len(scores) < 2:
        raise ConfigError(
            f"{folder}: fewer than two selectors scored (run `instr-select score-selectors {matrix_dir}` first)"
        )
    if not 1 <= count <= len(matrix.targets):
        raise ConfigError(f"--matrix-targets must be between 1 and {len(matrix.targets)}, not {count}")
    agreement = []
    for j, target in enumerate(matrix.targets):
        tops = [set(np.argsort(-values[:, j], kind="stable")[:k]) for values in scores.values()]
        pairs = [len(a & b) / len(a | b) for n, a in enumerate(tops) for b in tops[n + 1 :]]
        agreement.append((float(np.mean(pairs)), target))
    return [target for _, target in sorted(agreement)[:count]]
