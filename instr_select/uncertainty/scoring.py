"""Prompt uncertainty (PU), prediction probability (PP) and perplexity of a task's model outputs.

For a task with instruction I0 and n sampled instances x_i, and k word-dropout perturbations
I_1..I_k of I0 (see :mod:`instr_select.uncertainty.perturb`):

- y_hat_i is the model's greedy output for (I0, x_i);
- p(y | I, x) = exp(-mean token cross-entropy of y given the prompt built from I and x);
- PU = 1/(n k) sum_i sum_j |p(y_hat_i | I_j, x_i) - p(y_hat_i | I0, x_i)|;
- PP = 1/n sum_i p(y_hat_i | I0, x_i);
- perplexity = exp(1/n sum_i CE(y_hat_i | I0, x_i)), the perplexity of the model's own outputs.

The model is reached through the small :class:`Scorer` interface (prompt, generate, target_nll),
so a hand-computable toy scorer can drive the same code as a real model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from instr_select.atomic import write_json
from instr_select.errors import ConfigError, DataError
from instr_select.tasks import Example, Task, TaskCollection
from instr_select.uncertainty.perturb import perturb_instruction, sample_indices

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


class Scorer(Protocol):
    """What scoring needs from a model: a prompt format, greedy generation, target cross-entropy."""

    model_id: str

    def prompt(self, instruction: str, input: str) -> str: ...

    def generate(self, prompts: Sequence[str]) -> list[str]: ...

    def target_nll(self, prompts: Sequence[str], targets: Sequence[str]) -> np.ndarray: ...


@dataclass
class ScoreConfig:
    """How a task is scored; every field is part of the cache key."""

    n_instances: int = 10
    k_perturbations: int = 10
    drop_prob: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_instances < 1:
            raise ConfigError(f"--n-instances must be >= 1, got {self.n_instances}")
        if self.k_perturbations < 1:
            raise ConfigError(f"--perturbations must be >= 1, got {self.k_perturbations}")
        if not 0.0 <= self.drop_prob < 1.0:
            raise ConfigError(f"--drop-prob must lie in [0, 1), got {self.drop_prob}")


@dataclass
class TaskScore:
    """The scores of one task under one model and config."""

    key: str
    task_id: str
    meta_dataset: str
    pu: float
    pp: float
    perplexity: float
    n_used: int
    k: int
    instruction: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskScore:
        return cls(**data)


def probabilities(nll: np.ndarray) -> np.ndarray:
    """p = exp(-mean token cross-entropy)."""
    return np.exp(-np.asarray(nll, dtype=np.float64))


def prompt_uncertainty(p0: np.ndarray, pj: np.ndarray) -> float:
    """PU from p(y_hat_i | I0, x_i) of shape (n,) and p(y_hat_i | I_j, x_i) of shape (n, k)."""
    p0, pj = np.asarray(p0, dtype=np.float64), np.asarray(pj, dtype=np.float64)
    if pj.ndim != 2 or pj.shape[0] != p0.shape[0]:
        raise ValueError(f"shapes do not match: p0 {p0.shape}, pj {pj.shape}")
    return float(np.abs(pj - p0[:, None]).mean())


def prediction_probability(p0: np.ndarray) -> float:
    """PP: the mean probability of the greedy outputs under the original instruction."""
    return float(np.mean(np.asarray(p0, dtype=np.float64)))


def example_input(task: Task, example: Example) -> str:
    """The input part of a prompt, rendered as training and evaluation render it (options appended)."""
    from instr_select.tuning.mixture import render_example

    return render_example(task, example, task.instructions[0])["input"] or example.input


def task_instances(task: Task, config: ScoreConfig) -> list[int]:
    """The (seeded) indices of the instances a task is scored on."""
    return sample_indices(len(task.examples), config.n_instances, seed=(config.seed, task.key))


def task_perturbations(task: Task, config: ScoreConfig) -> list[str]:
    """The k perturbed instructions of a task (seeded by the config seed and the task key)."""
    return perturb_instruction(task.instructions[0], config.k_perturbations, config.drop_prob, (config.seed, task.key))


def score_task(scorer: Scorer, task: Task, config: ScoreConfig, perturbed: Sequence[str] | None = None) -> TaskScore:
    """PU, PP and perplexity of one task; one ``target_nll`` call per instance holds I0 and all I_j."""
    started = time.perf_counter()
    examples = task.examples
    if not examples:
        raise DataError(None, f"task {task.key!r} has no examples", "it cannot be scored; pass --skip-empty")
    instruction = task.instructions[0]
    variants = list(perturbed) if perturbed is not None else task_perturbations(task, config)
    inputs = [example_input(task, examples[i]) for i in task_instances(task, config)]
    notes = []
    if len(inputs) < config.n_instances:
        notes.append(f"only {len(inputs)} of {config.n_instances} instances exist; scored on those")
    greedy = scorer.generate([scorer.prompt(instruction, x) for x in inputs])
    nll = np.empty((len(inputs), len(variants) + 1), dtype=np.float64)
    for i, (x, y_hat) in enumerate(zip(inputs, greedy, strict=True)):
        prompts = [scorer.prompt(instr, x) for instr in [instruction, *variants]]
        nll[i] = scorer.target_nll(prompts, [y_hat] * len(prompts))
    if not np.all(np.isfinite(nll)):
        raise DataError(None, f"task {task.key!r}: the model gave a non-finite cross-entropy", "check the model")
    p = probabilities(nll)
    return TaskScore(
        key=task.key,
        task_id=task.task_id,
        meta_dataset=task.meta_dataset,
        pu=prompt_uncertainty(p[:, 0], p[:, 1:]),
        pp=prediction_probability(p[:, 0]),
        perplexity=float(np.exp(nll[:, 0].mean())),
        n_used=len(inputs),
        k=len(variants),
        instruction=instruction,
        notes=notes,
        seconds=round(time.perf_counter() - started, 4),
    )


def require_examples(tasks: TaskCollection, skip_empty: bool = False) -> TaskCollection:
    """The tasks that have examples; without ``skip_empty`` a task without examples is an error."""
    empty = [t.key for t in tasks if not t.examples]
    if empty and not skip_empty:
        shown = ", ".join(empty[:8]) + (f" and {len(empty) - 8} more" if len(empty) > 8 else "")
        raise DataError(
            None,
            f"{len(empty)} pool task(s) have no examples and cannot be scored: {shown}",
            "pass --skip-empty to leave them out, or use a pool with examples",
        )
    return tasks.filter(predicate=lambda t: bool(t.examples)) if empty else tasks


def task_fingerprint(task: Task) -> str:
    """A hash of what scoring reads from a task: its first instruction and its examples."""
    h = hashlib.sha256(task.key.encode("utf-8"))
    h.update(task.instructions[0].encode("utf-8"))
    for e in task.examples:
        h.update(b"\x1e" + e.input.encode("utf-8") + b"\x1f" + e.output.encode("utf-8"))
    return h.hexdigest()[:16]


class ScoreCache:
    """Per-task score files under ``root/<model hash>/<config hash>/``, written atomically.

    The key is (model hash, task content, config incl. seed), so a finished task is never
    scored twice and an interrupted run resumes where it stopped.
    """

    def __init__(self, root: str | Path, model_id: str, config: ScoreConfig) -> None:
        cfg = json.dumps({**asdict(config), "format": CACHE_FORMAT}, sort_keys=True)
        self.dir = Path(root) / model_id[:16] / hashlib.sha256(cfg.encode()).hexdigest()[:12]
        self.config = config
        self.model_id = model_id

    def _path(self, task: Task) -> Path:
        return self.dir / f"{hashlib.sha256(task.key.encode()).hexdigest()[:20]}.json"

    def get(self, task: Task) -> TaskScore | None:
        path = self._path(task)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") != task_fingerprint(task):
                return None
            return TaskScore.from_dict(data["score"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, task: Task, score: TaskScore) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        record = {
            "score": score.to_dict(),
            "fingerprint": task_fingerprint(task),
            "model": self.model_id,
            "config": asdict(self.config),
        }
        write_json(self._path(task), record, indent=None)


def world() -> tuple[int, int]:
    """(rank, number of processes) under ``torchrun`` / ``accelerate launch``; (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _barrier() -> None:
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dist.barrier()


def _score_shard(scorer: Scorer, tasks: list[Task], config: ScoreConfig, cache: ScoreCache, progress: bool) -> None:
    """Data-parallel: each process scores every world-th task into the shared cache, then all wait."""
    from instr_select.progress import bar

    rank, size = world()
    mine = tasks[rank::size]
    for task in bar(mine, quiet=not progress, desc=f"scoring tasks (process {rank})", unit="task"):
        if cache.get(task) is None:
            cache.put(task, score_task(scorer, task, config))
    _barrier()


def score_tasks(
    scorer: Scorer,
    tasks: Iterable[Task],
    config: ScoreConfig,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    on_score: Callable[[TaskScore], None] | None = None,
) -> list[TaskScore]:
    """Score every task (cached and resumable when ``cache_dir`` is given), with a progress bar.

    Under ``torchrun``/``accelerate launch`` the processes split the tasks and meet in the cache.
    """
    from instr_select.progress import bar as progress_bar

    tasks = list(tasks)
    cache = ScoreCache(cache_dir, scorer.model_id, config) if cache_dir is not None else None
    if world()[1] > 1:
        if cache is None:
            raise ConfigError("data-parallel scoring shares the scores through the cache: drop --no-cache")
        _score_shard(scorer, tasks, config, cache, progress)
    scores: list[TaskScore] = []
    reused = 0
    bar = progress_bar(tasks, quiet=not progress, desc="scoring tasks", unit="task")
    for task in bar:
        score = cache.get(task) if cache else None
        if score is None:
            score = score_task(scorer, task, config)
            if cache:
                cache.put(task, score)
        else:
            reused += 1
        for note in score.notes:
            log.info("%s: %s", task.key, note)
        scores.append(score)
        if on_score:
            on_score(score)
    if reused:
        log.info("reused %d cached task score(s) from %s", reused, cache.dir if cache else "-")
    return scores
