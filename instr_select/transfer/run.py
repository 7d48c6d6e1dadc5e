"""Measure a transfer matrix: train the base model on each source alone, score every target.

Each (source, seed) is one cell file, ``cells/<source>/seed<K>.json``, and the untuned model is
``cells/untuned.json``; a finished cell is never redone, so re-running resumes. ``--shard I/N``
gives a process its share of the sources, so shards run at once (processes, GPUs, machines that
share the folder) and :func:`merge` assembles the matrix once every cell is there.
``run.json`` pins what makes cells comparable (model and its hash, budget, every target's example
ids and their content hash): a run that disagrees is refused before it trains anything.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.atomic import write_json
from instr_select.errors import ConfigError, DataError
from instr_select.provenance import command_line, library_versions
from instr_select.tasks import Task, TaskCollection
from instr_select.transfer.config import TransferConfig, shard_cells
from instr_select.transfer.matrix import HEATMAP_FILE, TransferMatrix, reliability

RUN_FILE = "run.json"
UNTUNED = "untuned"
Say = Callable[[str], None]


def tasks_with_examples(keys: list[str], role: str, data_dir: str | Path | None) -> list[Task]:
    """Tasks by key, each with examples (a source to train on, a target to score)."""
    from instr_select.tuning.evaluate import load_tasks as load

    tasks = load(keys, data_dir, role)
    for task in tasks:
        if not task.examples:
            raise ConfigError(f"{role} {task.key} has no examples (a {role} needs examples: drop it from the file)")
    return tasks


def target_examples(targets: list[Task], count: int) -> dict[str, dict[str, Any]]:
    """Every target's scored example ids (a fixed, seeded sample) and the sha256 of their text."""
    from instr_select.tuning.evaluate import sample_indices

    chosen: dict[str, dict[str, Any]] = {}
    for task in targets:
        if len(task.examples) < count:
            raise ConfigError(
                f"target {task.key} has {len(task.examples)} examples, fewer than --eval-examples {count} "
                "(lower --eval-examples or drop the target)"
            )
        ids = sample_indices(task, count, seed=0)
        text = json.dumps([[task.examples[i].input, task.examples[i].output, task.examples[i].options] for i in ids])
        chosen[task.key] = {"ids": ids, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    return chosen


def base_model(config: TransferConfig, tasks: list[Task], out: Path) -> tuple[str, str]:
    """(the model every cell starts from, the sha256 of its files); a tiny model is built once in ``out``."""
    from instr_select.hashing import dir_hash
    from instr_select.tuning.modeling import TINY_MODELS

    if config.model in TINY_MODELS:
        from instr_select.atomic import atomic_directory
        from instr_select.locking import output_lock
        from instr_select.tuning.modeling import load_model, save_model
        from instr_select.uncertainty.backend import tokenizer_texts

        path = out / "base-model"
        with output_lock(path, wait=600):
            if not path.is_dir():
                texts = tokenizer_texts(tasks, max_examples=config.budget.examples_per_task)
                bundle = load_model(config.model, texts=texts, seed=0)
                with atomic_directory(path) as tmp:
                    save_model(bundle, tmp)
        return str(path), dir_hash(path)
    path = Path(config.model).expanduser()
    if path.is_dir():
        return str(path), dir_hash(path)
    from instr_select.models import resolve_model

    return config.model, dir_hash(resolve_model(config.model, kind="causal-lm"))


def identity(config: TransferConfig, model_hash: str, examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What every cell of one matrix shares; ``hash`` names it."""
    from instr_select.tuning.precision import budget_fields

    budget = budget_fields(asdict(config.budget), config.model)  # bf16 and fp32 cells never mix
    data = {"model": config.model, "model_sha256": model_hash, "budget": budget, "targets": examples}
    return {**data, "hash": hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()}


def check_run(out: Path, config: TransferConfig, ident: dict[str, Any]) -> None:
    """Refuse to mix cells of another model, budget or example set into ``out``; else record the run."""
    run_file = out / RUN_FILE
    if not run_file.is_file() and any(p.name != "base-model" and not p.name.startswith(".") for p in out.iterdir()):
        raise ConfigError(f"{out} is a folder of other files, not a transfer run: pass a new or empty --out")
    if run_file.is_file():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))["identity"]
        except (OSError, KeyError, TypeError, json.JSONDecodeError):
            raise DataError(run_file, "cannot be read", "use a new --out, or delete the folder") from None
        if previous.get("hash") != ident["hash"]:
            what = next(
                (name for name in ("model", "model_sha256", "budget", "targets") if previous.get(name) != ident[name]),
                "settings",
            )
            label = {"model_sha256": "model files", "targets": "targets or their example set"}.get(what, what)
            raise ConfigError(
                f"{out} holds a matrix made with other {label}: use a new --out (finished cells are kept as they are)"
            )
    write_json(run_file, {"identity": ident, "config": config.to_dict(), "command": command_line()})


def cell_path(out: Path, source: str, seed: int) -> Path:
    from instr_select.paths import file_stem

    if source == UNTUNED:
        return out / "cells" / f"{UNTUNED}.json"
    return out / "cells" / file_stem(source) / f"seed{seed}.json"


def score_targets(config: TransferConfig, bundle: Any, targets: list[Task]) -> dict[str, dict[str, Any]]:
    """Each target's mean gold-answer NLL per token and multiple-choice accuracy (None without options)."""
    from instr_select.tuning.evaluate import evaluate_task

    results = {}
    for target in targets:
        report = evaluate_task(
            bundle, target, max_examples=config.budget.eval_examples, seed=0, keep_predictions=0, generation="no"
        )
        metrics = report["metrics"]
        accuracy = metrics["mc_accuracy"]
        results[target.key] = {
            "nll": metrics["gold_nll"],
            "accuracy": None if accuracy is None else accuracy / 100.0,
            "examples": report["examples"],
            "mc_examples": metrics["mc_examples"],
        }
    return results


def run_cell(
    config: TransferConfig, model: str, source: Task | None, seed: int, targets: list[Task], ident: dict[str, Any]
) -> dict[str, Any]:
    """Train on ``source`` alone (None: no training) and score every target."""
    from instr_select.compare.pipeline import train_selection
    from instr_select.selection import SelectedTask
    from instr_select.tuning.modeling import load_model

    start = time.perf_counter()
    training: dict[str, Any] = {}
    if source is None:
        bundle = load_model(model, precision=config.budget.precision)
        bundle.info["max_source_length"] = config.budget.max_source_length  # as the tuned cells truncate
    else:
        chosen = [SelectedTask(1, source.task_id, source.meta_dataset, 1.0)]
        bundle, training = train_selection(config, model, TaskCollection([source]), chosen, seed)  # type: ignore[arg-type]
        info = bundle.info.get("training", {})
        training.update({k: info.get(k) for k in ("steps", "train_loss", "first_logged_loss", "last_logged_loss")})
    scoring_start = time.perf_counter()
    results = score_targets(config, bundle, targets)
    return {
        "source": source.key if source else UNTUNED,
        "seed": seed,
        "identity": ident["hash"],
        "targets": results,
        "training": training,
        "seconds": round(time.perf_counter() - start, 2),
        "scoring_seconds": round(time.perf_counter() - scoring_start, 2),
    }


def run_matrix(
    config: TransferConfig,
    out: str | Path,
    shard: tuple[int, int] = (1, 1),
    data_dir: str | Path | None = None,
    say: Say = lambda line: None,
) -> list[Path]:
    """Compute this shard's missing cells (shard 1 also the untuned row); returns the cell files written."""
    out = Path(out)
    sources = tasks_with_examples(config.sources, "source", data_dir)
    targets = tasks_with_examples(config.targets, "target", data_dir)
    examples = target_examples(targets, config.budget.eval_examples)
    out.mkdir(parents=True, exist_ok=True)
    model, model_hash = base_model(config, sources + targets, out)
    ident = identity(config, model_hash, examples)
    check_run(out, config, ident)
    by_key = {task.key: task for task in sources}
    todo: list[tuple[str, int]] = [(UNTUNED, 0)] if shard[0] == 1 else []
    todo += shard_cells(config.cells(), shard)
    written = []
    for number, (key, seed) in enumerate(todo, start=1):
        path = cell_path(out, key, seed)
        if path.is_file():
            _check_cell(path, ident)
            continue
        say(f"[{number}/{len(todo)}] {key} seed {seed}")
        cell = run_cell(config, model, by_key.get(key), seed, targets, ident)
        write_json(path, cell)
        say(f"  {cell['seconds']:.0f} s (scoring {cell['scoring_seconds']:.0f} s)")
        written.append(path)
    return written


def _check_cell(path: Path, ident: dict[str, Any]) -> dict[str, Any]:
    try:
        cell = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise DataError(path, "cannot be read", "delete it and re-run to redo the cell") from None
    if not isinstance(cell, dict) or cell.get("identity") != ident["hash"]:
        raise DataError(path, "belongs to another matrix (model, budget or examples)", "delete it or use a new --out")
    return cell


def missing_cells(out: Path, config: TransferConfig) -> list[tuple[str, int]]:
    return [(k, s) for k, s in [(UNTUNED, 0), *config.cells()] if not cell_path(out, k, s).is_file()]


def merge(out: str | Path) -> TransferMatrix:
    """Assemble the finished cells into the matrix files, the heatmap and the reliability report."""
    from instr_select.atomic import atomic_file
    from instr_select.transfer.heatmap import heatmap

    out = Path(out)
    run_file = out / RUN_FILE
    if not run_file.is_file():
        raise DataError(out, "holds no transfer run (no run.json)", "run `instr-select transfer run` first")
    run = json.loads(run_file.read_text(encoding="utf-8"))
    config, ident = TransferConfig(**run["config"]), run["identity"]
    missing = missing_cells(out, config)
    if missing:
        key, seed = missing[0]
        raise ConfigError(
            f"{out}: {len(missing)} cells are not finished (first: {key} seed {seed}); run the missing shards first"
        )
    sources, targets, seeds = config.sources, config.targets, config.seeds
    nll = np.full((len(sources), len(targets), len(seeds)), np.nan)
    accuracy = np.full_like(nll, np.nan)
    cost = {"train_seconds": 0.0, "scoring_seconds": 0.0, "cells": 0}
    for i, source in enumerate(sources):
        for seed in config.seeds_of(source):
            cell = _check_cell(cell_path(out, source, seed), ident)
            k = seeds.index(seed)
            for j, target in enumerate(targets):
                nll[i, j, k], accuracy[i, j, k] = _values(cell["targets"][target])
            cost["train_seconds"] += float(cell["training"].get("train_seconds", 0.0))
            cost["scoring_seconds"] += float(cell["scoring_seconds"])
            cost["cells"] += 1
    untuned = _check_cell(cell_path(out, UNTUNED, 0), ident)
    base = np.array([_values(untuned["targets"][t]) for t in targets])
    matrix = TransferMatrix(
        sources=list(sources),
        targets=list(targets),
        seeds=list(seeds),
        nll=nll,
        accuracy=accuracy,
        untuned_nll=base[:, 0],
        untuned_accuracy=base[:, 1],
        kinds=dict(config.kinds),
    )
    matrix.manifest = {
        "model": ident["model"],
        "model_sha256": ident["model_sha256"],
        "budget": ident["budget"],
        "target_examples": ident["targets"],
        "identity": ident["hash"],
        "seeds_of": {s: config.seeds_of(s) for s in sources},
        "cost": {**cost, "untuned_scoring_seconds": untuned["scoring_seconds"]},
        "reliability": {view: reliability(matrix, view) for view in ("nll", "accuracy")},
        "versions": library_versions("torch", "transformers", "datasets", "accelerate", "numpy", "scipy"),
        "command": run.get("command"),
        "merged": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with atomic_file(out / HEATMAP_FILE) as tmp:
        heatmap(matrix, tmp)
    staging = out / ".merge-staging"
    staging.mkdir(exist_ok=True)
    matrix.save(staging)  # then moved into place one by one, the manifest (which checks the rest) last
    for name in ("transfer.npz", "transfer.csv", "manifest.json"):
        (staging / name).replace(out / name)
    staging.rmdir()
    return matrix


def _values(result: dict[str, Any]) -> tuple[float, float]:
    accuracy = result.get("accuracy")
    return float(result["nll"]), float("nan") if accuracy is None else float(accuracy)
