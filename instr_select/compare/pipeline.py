"""Run a comparison: every selector picks k pool tasks per target, the same backend trains on each
selection at the same budget, the same evaluation scores each target. Resumable by cell."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from instr_select.atomic import write_json, write_text
from instr_select.compare.config import CompareConfig
from instr_select.compare.report import bar_chart, markdown, summarize, summary_chart
from instr_select.errors import ConfigError
from instr_select.provenance import command_line
from instr_select.selection import SelectedTask
from instr_select.tasks import Task, TaskCollection

log = logging.getLogger(__name__)
RUN_FORMAT = 1


@dataclass
class ComparisonResult:
    summary: dict[str, Any]
    markdown: str
    report_path: Path
    chart_path: Path
    json_path: Path


def resolve_targets(refs: list[str], data_dir: str | Path | None) -> list[Task]:
    """``SOURCE:TASK`` refs -> tasks with examples to evaluate on."""
    from instr_select.tuning.evaluate import load_target

    targets = [load_target(ref, data_dir) for ref in refs]
    for ref, task in zip(refs, targets, strict=True):
        if not task.examples:
            raise ConfigError(f"target {ref!r} has no examples to evaluate on (choose a task with examples)")
    return targets


def load_pool(config: CompareConfig, targets: list[Task], data_dir: str | Path | None) -> TaskCollection:
    from instr_select.loaders import load_source

    pool = TaskCollection()
    for spec in config.pool:
        source, _, split = spec.partition("@")
        tasks = load_source(source, data_dir=data_dir)
        if split:
            tasks = tasks.filter(split=split)
            if not tasks:
                raise ConfigError(f"pool {spec!r}: source {source!r} has no task of split {split!r}")
        for task in tasks:
            pool.add(task)
    target_keys = {t.key for t in targets}
    pool = pool.filter(with_examples=True, predicate=lambda t: t.key not in target_keys)
    for target in targets:
        eligible = sum(1 for t in pool if t.source_key != target.source_key)
        if config.k > eligible:
            raise ConfigError(
                f"-k {config.k} is larger than the pool: {eligible} tasks with examples remain for {target.key} "
                "after the leakage guard (lower -k or add --pool sources)"
            )
    return pool


class Selectors:
    """Builds each selector's resources once (encoders, indexes, base model) and selects per target."""

    def __init__(self, config: CompareConfig, pool: TaskCollection, out: Path, base_model: str | Path) -> None:
        self.config, self.pool, self.out, self.base_model = config, pool, out, base_model
        self._retrievers: dict[str, Any] = {}
        self._indexes: dict[str, Any] = {}
        self._rankings: dict[tuple[str, int], list[SelectedTask]] = {}
        self._scorer: Any = None

    def eligible(self, target: Task) -> TaskCollection:
        return self.pool.filter(predicate=lambda t: t.source_key != target.source_key)

    def prepare(self, selector: str) -> float:
        """Build what a selector needs once (encoder, index, scorer); returns the seconds it took."""
        start = time.perf_counter()
        if selector in ("bm25", "instruction", "aligned"):
            self._retriever(selector)
        elif selector == "uncertainty":
            self._load_scorer()
        return time.perf_counter() - start

    def select(self, selector: str, target: Task, seed: int) -> list[SelectedTask]:
        k = self.config.k
        if selector in ("random", "uncertainty"):
            # one ranking of the whole pool per seed; each target takes the first k its guard allows,
            # so targets share a selection (and its training) unless the guard removes a task
            ranking = self._pool_ranking(selector, seed)
            chosen = [
                t for t in ranking if t.key != target.key and self.pool.get(t.key).source_key != target.source_key
            ]
            return [replace(t, rank=rank) for rank, t in enumerate(chosen[:k], 1)]
        retriever = self._retriever(selector)
        return retriever.search(
            target.instructions[0], k=k, exclude_sources={target.source_key}, exclude_keys={target.key}
        )

    def _retriever(self, selector: str) -> Any:
        if selector not in self._retrievers:
            from instr_select.index import InstructionIndex
            from instr_select.retrieval import Retriever

            which = "aligned" if selector == "aligned" else "base"
            if which not in self._indexes:
                self._indexes[which] = InstructionIndex.from_tasks(self.pool, self.encoder(which))
            index = self._indexes[which]
            self._retrievers[selector] = Retriever(index, method="bm25" if selector == "bm25" else "dense")
        return self._retrievers[selector]

    def encoder(self, which: str) -> Path:
        """The base (untrained) encoder built from the pool's instructions, or the encoder aligned on them."""
        from instr_select.encoder import AlignConfig, build_static_encoder, train_encoder

        given = self.config.base_encoder if which == "base" else self.config.aligned_encoder
        if given:
            from instr_select.models import resolve_model

            return Path(resolve_model(given))  # a folder, or a registry name such as minilm
        path = self.out / "encoders" / which
        if (path / "modules.json").is_file():
            return path
        if which == "base":
            from instr_select.textview import DEFAULT_TEXT_VIEW, view_all

            texts = view_all([text for task in self.pool for text in task.instructions], DEFAULT_TEXT_VIEW)
            model = build_static_encoder(texts, seed=0)  # on the words its index and the aligned encoder see
            tmp = path.with_name(path.name + ".tmp")
            model.save(str(tmp))
            tmp.replace(path)
        else:
            from instr_select.progress import say

            say()("aligning the instruction encoder on the pool's instructions ...")
            train_encoder(self.pool, self.encoder("base"), path, AlignConfig(epochs=self.config.encoder_epochs, seed=0))
        return path

    def _load_scorer(self) -> Any:
        if self._scorer is None:
            from instr_select.tuning.modeling import load_model
            from instr_select.uncertainty.backend import BundleScorer

            self._scorer = BundleScorer(load_model(self.base_model, precision=self.config.budget.precision))
        return self._scorer

    def _pool_ranking(self, selector: str, seed: int) -> list[SelectedTask]:
        if (selector, seed) not in self._rankings:
            if selector == "random":
                tasks = sorted(self.pool, key=lambda t: t.key)
                random.Random(f"random-selector:{seed}").shuffle(tasks)
                ranking = [
                    SelectedTask(i, t.task_id, t.meta_dataset, 0.0, t.instructions[0], t.categories)
                    for i, t in enumerate(tasks, 1)
                ]
            else:
                ranking = self._uncertainty_ranking(seed)
            self._rankings[selector, seed] = ranking
        return self._rankings[selector, seed]

    def _uncertainty_ranking(self, seed: int) -> list[SelectedTask]:
        from instr_select.uncertainty.scoring import ScoreConfig
        from instr_select.uncertainty.selectors import select_from_pool

        config = ScoreConfig(
            n_instances=self.config.uncertainty_instances,
            k_perturbations=self.config.uncertainty_perturbations,
            seed=seed,
        )
        candidates = self.pool
        if 0 < self.config.uncertainty_candidates < len(self.pool):
            keys = sorted(t.key for t in self.pool)
            sample = set(
                random.Random(f"uncertainty-candidates:{seed}").sample(keys, self.config.uncertainty_candidates)
            )
            candidates = self.pool.filter(predicate=lambda t: t.key in sample)
        selection, _ = select_from_pool(
            candidates,
            "uncertainty",
            len(candidates),
            scorer=self._load_scorer(),
            config=config,
            cache_dir=self.out / "uncertainty-cache",
            progress=True,
        )
        return selection.tasks


def prepare_base_model(config: CompareConfig, pool: TaskCollection, targets: list[Task], out: Path) -> str | Path:
    """The one base model every cell starts from (a tiny model's tokenizer sees the pool and targets' text)."""
    from instr_select.tuning.modeling import TINY_MODELS, load_model, save_model
    from instr_select.uncertainty.backend import tokenizer_texts

    if config.model not in TINY_MODELS:
        return config.model
    path = out / "base-model"
    if not path.is_dir():
        texts = tokenizer_texts([*pool, *targets], max_examples=config.budget.examples_per_task)
        save_model(load_model(config.model, texts=texts, seed=0), path)
    return path


def primary_metric(report: dict[str, Any]) -> tuple[str, float]:
    """Multiple-choice accuracy where the target has options, else ROUGE-L (the NIV2 convention)."""
    metrics = report["metrics"]
    if metrics.get("mc_accuracy") is not None:
        return "mc_accuracy", float(metrics["mc_accuracy"])
    return "rougeL", float(metrics["rougeL"])


def _cell_path(out: Path, target_key: str, selector: str, seed: int) -> Path:
    from instr_select.paths import file_stem

    return out / "cells" / file_stem(target_key) / f"{selector}-seed{seed}.json"


def train_selection(
    config: CompareConfig, base_model: str | Path, pool: TaskCollection, chosen: list[SelectedTask], seed: int
) -> tuple[Any, dict[str, Any]]:
    """Train the base model on a selection at the run's budget; returns the model and what training did."""
    from instr_select.selection import Selection
    from instr_select.tuning.mixture import MixtureConfig, build_records
    from instr_select.tuning.modeling import load_model
    from instr_select.tuning.train import TuneConfig, tune

    budget = config.budget
    mixture = build_records(
        Selection(selector="compare", tasks=chosen),
        MixtureConfig(max_per_task=budget.examples_per_task, seed=seed),
        pool=pool,
    )
    tune_config = TuneConfig(
        max_steps=budget.max_steps,
        batch_size=budget.batch_size,
        learning_rate=budget.learning_rate,
        max_source_length=budget.max_source_length,
        method=budget.method,
        seed=seed,
        progress=False,
        precision=budget.precision,
    )
    start = time.perf_counter()
    bundle = tune(load_model(base_model, precision=budget.precision), mixture.records, tune_config)
    seconds = round(time.perf_counter() - start, 2)
    return bundle, {
        "train_seconds": seconds,
        "train_examples": len(mixture.records),
        "precision": bundle.info["training"]["precision"],
    }


def evaluate_target(config: CompareConfig, bundle: Any, target: Task) -> dict[str, Any]:
    from instr_select.tuning.evaluate import evaluate_task

    return evaluate_task(
        bundle, target, max_examples=config.budget.eval_examples, seed=0, keep_predictions=3, generation="auto"
    )


def run_comparison(config: CompareConfig, out: str | Path, data_dir: str | Path | None = None) -> ComparisonResult:
    """Select for every (target, selector, seed), train once per distinct (selection, seed), score each target.

    Cells whose file exists are not redone, so an interrupted run continues where it stopped.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / "run.json"
    if run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        if previous.get("config_hash") != config.hash:
            raise ConfigError(
                f"{out} holds a run with other settings (pool, k, model, budget or precision): use a new --out"
            )
    write_json(
        run_file,
        {"format": RUN_FORMAT, "config_hash": config.hash, "config": config.to_dict(), "command": command_line()},
    )

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one line per cell instead of a loading bar per model
    targets = resolve_targets(config.targets, data_dir)
    pool = load_pool(config, targets, data_dir)
    base_model = prepare_base_model(config, pool, targets, out)
    selectors = Selectors(config, pool, out, base_model)
    setup_seconds = _setup(selectors, config, out)
    baseline = {target.key: _baseline(config, base_model, target, out) for target in targets}

    cells: list[dict[str, Any]] = []
    from instr_select.progress import say

    # seed by seed, selector by selector: an interrupted run leaves whole (seed, selector) columns finished
    for seed in range(config.seeds):
        for selector in config.selectors:
            pending: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for target in targets:
                path = _cell_path(out, target.key, selector, seed)
                if path.is_file():
                    cells.append(json.loads(path.read_text(encoding="utf-8")))
                    continue
                start = time.perf_counter()
                chosen = selectors.select(selector, target, seed)
                cell = {
                    "target": target.key,
                    "selector": selector,
                    "seed": seed,
                    "selection": [t.key for t in chosen],
                    "selection_scores": [t.score for t in chosen],
                    "selection_seconds": round(time.perf_counter() - start, 4),
                    "_task": target,
                    "_chosen": chosen,
                }
                pending.setdefault(tuple(sorted(cell["selection"])), []).append(cell)
            for number, group in enumerate(pending.values(), start=1):
                first = group[0]["target"] + (f" and {len(group) - 1} more" if len(group) > 1 else "")
                say()(f"seed {seed}, {selector} [{number}/{len(pending)}]: training for {first}")
                bundle, training = train_selection(config, base_model, pool, group[0]["_chosen"], seed)
                for cell in group:
                    report = evaluate_target(config, bundle, cell.pop("_task"))
                    cell.pop("_chosen")
                    metric, score = primary_metric(report)
                    gold_nll = report["metrics"]["gold_nll"]
                    cell.update(metric=metric, score=score, gold_nll=gold_nll, shared_training=len(group), **training)
                    cell["report"] = report
                    write_json(_cell_path(out, cell["target"], cell["selector"], cell["seed"]), cell)
                    cells.append(cell)
    return write_report(config, cells, baseline, setup_seconds, out)


def rebuild_report(out: str | Path) -> ComparisonResult:
    """The report of the cells finished so far (a partial report while a run continues)."""
    out = Path(out)
    run_file = out / "run.json"
    if not run_file.is_file():
        raise ConfigError(f"{out}: no comparison run here (no run.json)")
    config = CompareConfig(**json.loads(run_file.read_text(encoding="utf-8"))["config"])
    cells, baseline = [], {}
    for path in sorted((out / "cells").glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.stem == "no-tuning-seed0":
            baseline[data["target"]] = {k: data.get(k) for k in ("metric", "score", "gold_nll")}
        elif data.get("selector") in config.selectors:
            cells.append(data)
    if not cells:
        raise ConfigError(f"{out}: no finished cell yet")
    setup_file = out / "setup.json"
    setup = json.loads(setup_file.read_text(encoding="utf-8")) if setup_file.is_file() else {}
    return write_report(config, cells, baseline, setup, out)


def _setup(selectors: Selectors, config: CompareConfig, out: Path) -> dict[str, float]:
    """One-off cost of each selector (encoder, index, scorer), measured on the run that paid it."""
    path = out / "setup.json"
    recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for selector in config.selectors:
        if selector not in recorded:
            recorded[selector] = round(selectors.prepare(selector), 3)
    write_json(path, recorded)
    return {s: recorded[s] for s in config.selectors}


def _baseline(config: CompareConfig, base_model: str | Path, target: Task, out: Path) -> dict[str, Any]:
    """The untuned base model's score and gold-answer NLL on the target (a reference column)."""
    from instr_select.tuning.modeling import load_model

    path = _cell_path(out, target.key, "no-tuning", 0)
    if not path.is_file():
        bundle = load_model(base_model, precision=config.budget.precision)
        bundle.info["max_source_length"] = config.budget.max_source_length  # as the tuned cells truncate
        report = evaluate_target(config, bundle, target)
        metric, score = primary_metric(report)
        cell = {"target": target.key, "metric": metric, "score": score, "gold_nll": report["metrics"]["gold_nll"]}
        write_json(path, {**cell, "report": report})
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: data.get(k) for k in ("metric", "score", "gold_nll")}


def write_report(
    config: CompareConfig,
    cells: list[dict[str, Any]],
    baseline: dict[str, dict[str, Any]],
    setup_seconds: dict[str, float],
    out: Path,
) -> ComparisonResult:
    order = {name: i for i, name in enumerate(config.selectors)}
    cells = sorted(cells, key=lambda c: (c["target"], order[c["selector"]], c["seed"]))
    summary = summarize(cells, config.selectors)
    summary["setup_seconds"] = setup_seconds
    text = markdown(summary, config.selectors, baseline)
    seeds = len(summary.get("seeds", [])) or config.seeds
    title = (
        f"{config.model} ({config.budget.method}), k={config.k}, {seeds} seed(s), "
        f"{len(summary['targets'])} targets, pool: {'+'.join(config.pool)}"
    )
    chart = bar_chart(summary, config.selectors, out / "chart.png", title, baseline)
    summary_chart(
        summary,
        out / "summary.png",
        "Each selector minus random on the same targets and seeds: mean over targets, 95% bootstrap CI\n"
        f"{config.model} ({config.budget.method}), k={config.k}, {seeds} seed(s)",
    )
    report_path = out / "report.md"
    write_json(
        out / "results.json", {"config": config.to_dict(), "summary": summary, "baseline": baseline, "cells": cells}
    )
    header = f"# Selector comparison\n\n{title}. Scores in percent (mean ± std over seeds).\n\n"
    write_text(report_path, header + text)
    return ComparisonResult(summary, text, report_path, chart, out / "results.json")
