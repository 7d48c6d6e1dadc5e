"""Active instruction tuning: grow the training pool by a selector, retrain, evaluate, plot the curve.

Iteration 0 trains on N random pool tasks (shared by every selector). Each later iteration scores
the remaining tasks with the previous iteration's model, adds the top N by the selector, retrains
from the base model on the cumulative tasks and evaluates on held-out tasks. Every (selector,
iteration) is a folder with ``state.json``; a rerun with the same settings skips finished ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from instr_select.atomic import atomic_file, write_json
from instr_select.errors import ConfigError, DataError
from instr_select.tasks import Task, TaskCollection
from instr_select.uncertainty.perturb import stable_seed
from instr_select.uncertainty.scoring import ScoreConfig
from instr_select.uncertainty.selectors import parse_selectors, random_tasks, select_from_pool

log = logging.getLogger(__name__)

METRICS = ("rougeL", "exact_match", "mc_accuracy")
RUN_FILE = "active.json"


@dataclass
class ActiveConfig:
    """Settings of an active tuning run (all recorded in ``active.json``)."""

    iterations: int = 3
    per_iteration: int = 4
    selectors: list[str] = field(default_factory=lambda: ["uncertainty", "random"])
    held_out: int = 4
    max_examples_per_task: int = 20
    eval_examples: int = 20
    epochs: float = 3.0
    learning_rate: float | None = None
    train_batch_size: int = 8
    metric: str = "rougeL"
    max_new_tokens: int = 16
    batch_size: int = 16
    seed: int = 0
    score: ScoreConfig = field(default_factory=ScoreConfig)
    precision: str = "auto"  # training and scoring: auto, bf16 (autocast) or fp32

    def __post_init__(self) -> None:
        self.selectors = parse_selectors(self.selectors)
        if self.iterations < 1 or self.per_iteration < 1:
            raise ConfigError("--iterations and --per-iteration must be at least 1")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r} (choose one of: {', '.join(METRICS)})")
        if self.max_examples_per_task < 1 or self.eval_examples < 1:
            raise ConfigError("--max-examples-per-task and --eval-examples must be at least 1")
        from instr_select.tuning.precision import check_precision

        check_precision(self.precision)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_multiple_choice(task: Task) -> bool:
    return any(len(e.options) > 1 for e in task.examples)


def split_pool(
    pool: TaskCollection, held_out: int | TaskCollection, seed: int, metric: str = "rougeL"
) -> tuple[TaskCollection, TaskCollection]:
    """(training pool, held-out tasks); pool tasks sharing a held-out task's source are removed.

    With ``metric="mc_accuracy"`` the held-out tasks are drawn among the multiple-choice tasks.
    """
    if isinstance(held_out, TaskCollection):
        evaluation = held_out
    else:
        if held_out < 1:
            raise ConfigError("--held-out must be at least 1 (or pass --eval SOURCE)")
        candidates = [t for t in pool if metric != "mc_accuracy" or is_multiple_choice(t)]
        if not candidates:
            raise ConfigError("--metric mc_accuracy needs multiple-choice tasks, and the pool has none")
        evaluation = TaskCollection(random_tasks(candidates, held_out, stable_seed("held-out", seed)))
    sources = {t.source_key for t in evaluation}
    train = pool.filter(predicate=lambda t: t.source_key not in sources and t.key not in evaluation)
    return train, evaluation


def _json(path: Path, payload: dict[str, Any]) -> Path:
    return write_json(path, payload)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class ActiveRun:
    """One run directory: base model, iteration folders, learning curve."""

    def __init__(
        self,
        pool: TaskCollection,
        evaluation: TaskCollection,
        base: str | Path,
        out: str | Path,
        config: ActiveConfig,
        provenance: dict[str, Any] | None = None,
        progress: bool = True,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.pool, self.evaluation, self.base = pool, evaluation, str(base)
        self.out, self.config, self.progress, self.echo = Path(out), config, progress, echo
        self.provenance = provenance or {}
        needed = config.per_iteration * config.iterations
        if needed > len(pool):
            raise ConfigError(
                f"{config.iterations} iterations of {config.per_iteration} tasks need {needed} pool tasks, "
                f"but the pool has {len(pool)} after removing held-out sources (grow --pool-size or lower them)"
            )

    # ---- bookkeeping ----

    def plan(self) -> dict[str, Any]:
        """What the run's results depend on; the precision as it resolves here, fp32 left out (as before
        ``--precision`` existed)."""
        from instr_select.tuning.modeling import TINY_MODELS
        from instr_select.tuning.precision import resolve_precision

        config = self.config.to_dict()
        precision = config.pop("precision")
        resolved = "fp32" if precision == "auto" and self.base in TINY_MODELS else resolve_precision(precision)
        if resolved != "fp32":
            config["precision"] = resolved
        return {
            "base": self.base,
            "config": config,
            "pool": sorted(t.key for t in self.pool),
            "held_out": sorted(t.key for t in self.evaluation),
        }

    def check_plan(self) -> None:
        plan = self.plan()
        digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
        previous = _read(self.out / RUN_FILE)
        if previous and previous.get("plan_hash") != digest:
            raise ConfigError(
                f"{self.out} holds an active run with other settings (pool, held-out tasks or config); "
                "pass a new --out to start another run"
            )
        _json(self.out / RUN_FILE, {"plan_hash": digest, **plan, **self.provenance})

    def iteration_dir(self, selector: str, iteration: int) -> Path:
        if iteration == 0:
            return self.out / "iter_00_random"
        return self.out / selector / f"iter_{iteration:02d}"

    # ---- model steps ----

    def base_model(self) -> Path:
        """The base model directory (a tiny model is built once, on the pool's texts, and saved)."""
        from instr_select.tuning.modeling import TINY_MODELS, save_model

        if self.base not in TINY_MODELS:
            return Path(self.base)
        path = self.out / "base_model"
        if not (path / "config.json").is_file():
            from instr_select.uncertainty.backend import load_bundle

            save_model(load_bundle(self.base, [*self.pool, *self.evaluation], self.config.seed), path)
        return path

    def train(self, tasks: Sequence[Task], out: Path) -> Path:
        """Retrain the base model on ``tasks`` (reusing a finished model directory)."""
        from instr_select.tuning.mixture import MixtureConfig, build_records
        from instr_select.tuning.modeling import load_model
        from instr_select.tuning.train import TuneConfig, tune

        model_dir = out / "model"
        if (model_dir / "training_info.json").is_file():
            return model_dir
        c = self.config
        mixture = build_records(TaskCollection(tasks), MixtureConfig(max_per_task=c.max_examples_per_task, seed=c.seed))
        bundle = load_model(self.base_model(), seed=c.seed, precision=c.precision)
        tune_config = TuneConfig(
            epochs=c.epochs,
            learning_rate=c.learning_rate,
            batch_size=c.train_batch_size,
            seed=c.seed,
            progress=self.progress,
            precision=c.precision,
        )
        tune(bundle, mixture.records, tune_config, out=model_dir, provenance={"mixture_hash": mixture.hash})
        return model_dir

    def evaluate(self, model_dir: Path) -> dict[str, Any]:
        from instr_select.tuning.evaluate import evaluate_task
        from instr_select.tuning.modeling import load_model

        c = self.config
        bundle = load_model(model_dir, precision=c.precision)
        reports = {
            t.key: evaluate_task(bundle, t, c.eval_examples, c.batch_size, c.max_new_tokens, c.seed, keep_predictions=3)
            for t in self.evaluation
        }
        values = [r["metrics"][c.metric] for r in reports.values() if r["metrics"][c.metric] is not None]
        if not values:
            raise DataError(None, f"no held-out task reports {c.metric}", "choose another --metric")
        return {
            "metric": c.metric,
            "score": round(sum(values) / len(values), 3),
            "tasks": {k: r["metrics"] for k, r in reports.items()},
            "examples": {k: r["examples"] for k, r in reports.items()},
        }

    def choose(self, selector: str, iteration: int, chosen: Sequence[str], previous_model: Path):
        """The next N tasks by ``selector`` among the remaining pool, scored with the previous model."""
        from instr_select.uncertainty.backend import load_scorer

        c = self.config
        remaining = self.pool.filter(predicate=lambda t: t.key not in set(chosen))
        score_config = ScoreConfig(**{**asdict(c.score), "seed": c.seed})
        scorer = None
        if selector != "random":
            scorer = load_scorer(previous_model, (), c.seed, c.max_new_tokens, c.batch_size, c.precision)
        else:
            score_config.seed = stable_seed("active-random", c.seed, iteration) % (2**31)
        selection, _ = select_from_pool(
            remaining,
            selector,
            c.per_iteration,
            scorer,
            score_config,
            cache_dir=self.out / "score_cache",
            progress=self.progress,
            params={"iteration": iteration, "scored_with": str(previous_model)},
        )
        return selection

    # ---- the loop ----

    def step(self, selector: str, iteration: int, chosen: list[str], previous_model: Path | None) -> dict[str, Any]:
        folder = self.iteration_dir(selector, iteration)
        state = _read(folder / "state.json")
        if state is not None:
            self.echo(f"[{selector} {iteration}] done before: {state['n_tasks']} tasks, {state['eval']['score']}")
            return state
        started = time.perf_counter()
        if iteration == 0:
            added = [t.key for t in random_tasks(list(self.pool), self.config.per_iteration, self.config.seed)]
            selection_file = None
        else:
            assert previous_model is not None
            selection = self.choose(selector, iteration, chosen, previous_model)
            added = selection.keys
            selection_file = selection.save(folder / "selection.json")
        select_seconds = time.perf_counter() - started
        tasks = [self.pool.get(k) for k in [*chosen, *added]]
        model_dir = self.train(tasks, folder)
        train_seconds = time.perf_counter() - started - select_seconds
        evaluation = self.evaluate(model_dir)
        state = {
            "selector": "random" if iteration == 0 else selector,
            "iteration": iteration,
            "added": added,
            "tasks": [t.key for t in tasks],
            "n_tasks": len(tasks),
            "model": str(model_dir),
            "selection": str(selection_file) if selection_file else None,
            "eval": evaluation,
            "seconds": {
                "select": round(select_seconds, 2),
                "train": round(train_seconds, 2),
                "total": round(time.perf_counter() - started, 2),
            },
        }
        _json(folder / "state.json", state)
        self.echo(
            f"[{selector} {iteration}] {len(tasks)} tasks, {evaluation['metric']} {evaluation['score']} "
            f"(select {select_seconds:.0f}s, total {state['seconds']['total']:.0f}s)"
        )
        return state

    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        self.check_plan()
        first = self.step("random", 0, [], None)
        curves: dict[str, list[dict[str, Any]]] = {}
        for selector in self.config.selectors:
            state, points = first, [first]
            for iteration in range(1, self.config.iterations):
                state = self.step(selector, iteration, state["tasks"], Path(state["model"]))
                points.append(state)
            curves[selector] = [
                {"iteration": s["iteration"], "n_tasks": s["n_tasks"], "score": s["eval"]["score"], "added": s["added"]}
                for s in points
            ]
        return self.write_curve(curves)

    def write_curve(self, curves: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        payload = {
            "metric": self.config.metric,
            "curves": curves,
            "held_out": sorted(t.key for t in self.evaluation),
            "pool_size": len(self.pool),
            "base": self.base,
            "config": self.config.to_dict(),
            **self.provenance,
        }
        _json(self.out / "learning_curve.json", payload)
        plot_curve(curves, self.config.metric, self.out / "learning_curve.png")
        return payload


def plot_curve(curves: dict[str, list[dict[str, Any]]], metric: str, path: Path) -> Path:
    """Held-out score against the number of training tasks, one line per selector."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for selector, points in curves.items():
        ax.plot([p["n_tasks"] for p in points], [p["score"] for p in points], marker="o", label=selector)
    ax.set_xlabel("number of training tasks")
    ax.set_ylabel(f"held-out {metric}")
    ax.set_title("Active instruction tuning: learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
