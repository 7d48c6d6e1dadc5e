"""Target evaluation: greedy generation scored by exact match and ROUGE-L, and multiple choice.

Exact match and ROUGE-L follow the SuperNI (NIV2) convention: answers are normalized
(lowercase, no punctuation or articles), the best score over the references counts, ROUGE-L is
the F-measure from the ``rouge_score`` package, both reported in percent. Examples with answer
options (BIG-bench ``target_scores``, BBH options, P3 answer choices) are also scored by ranking
the options' mean token NLL given the prompt (``target_nll``).
"""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.errors import DataError
from instr_select.tasks import Example, Task
from instr_select.tuning.mixture import MixtureConfig, render_example, task_instruction
from instr_select.tuning.modeling import ModelBundle, generate, options_nll, target_nll
from instr_select.tuning.precision import bundle_precision

Progress = Callable[[int, int], None]


def normalize_answer(text: str) -> str:
    """SuperNI normalization: lowercase, drop punctuation and articles, squeeze whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(ref) for ref in references))


class RougeL:
    """Max ROUGE-L F-measure over references (``rouge_score``, no stemming on empty strings)."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self.scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

    def __call__(self, prediction: str, references: Sequence[str]) -> float:
        return max(self.scorer.score(ref, prediction)["rougeL"].fmeasure for ref in references)


def sample_indices(task: Task, max_examples: int | None, seed: int = 0) -> list[int]:
    """Positions of the examples a target is scored on: all, or a seeded sample of ``max_examples``."""
    count = len(task.examples)
    if not count:
        raise DataError(None, f"target {task.key!r} has no examples", "pick a target task with examples")
    if max_examples is None or count <= max_examples:
        return list(range(count))
    return sorted(random.Random(f"{seed}:{task.key}").sample(range(count), max_examples))


def sample_examples(task: Task, max_examples: int | None, seed: int = 0) -> list[Example]:
    examples = task.examples
    return [examples[i] for i in sample_indices(task, max_examples, seed)]


MAX_LABELS = 8


def label_set(task: Task) -> list[str]:
    """A classification task's labels: its few distinct outputs, when every output repeats (else none).

    Used as answer options for tasks whose examples carry none (e.g. NIV2 ``POS``/``NEG``), so such a
    target is scored by ranking its labels, as a multiple-choice target is.
    """
    outputs = [ex.output.strip() for ex in task.examples if ex.output.strip()]
    labels = sorted(set(outputs))
    if not 1 < len(labels) <= MAX_LABELS or len(outputs) < 2 * len(labels):
        return []
    if min(outputs.count(label) for label in labels) < 2:
        return []
    return labels


def answer_options(task: Task, examples: Sequence[Example]) -> list[list[str]]:
    """Each example's options: its own where it has them, else the task's label set (maybe empty)."""
    labels = label_set(task)
    return [list(ex.options) if len(ex.options) > 1 else labels for ex in examples]


def _batches(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(n, start + size)) for start in range(0, n, size)]


def evaluate_task(
    bundle: ModelBundle,
    task: Task,
    max_examples: int | None = 100,
    batch_size: int = 16,
    max_new_tokens: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
    keep_predictions: int = 20,
    generation: str = "yes",
) -> dict[str, Any]:
    """Score ``bundle`` on ``task``; returns the report (metrics in percent, gold-answer NLL, timings).

    ``generation``: ``yes`` (greedy answers for exact match and ROUGE-L), ``no``, or ``auto`` (only
    when some example has no answer options to rank).
    """
    examples = sample_examples(task, max_examples, seed)
    instruction = task_instruction(task, MixtureConfig())
    records = [render_example(task, ex, instruction) for ex in examples]
    prompts = [r["prompt"] for r in records]
    options = answer_options(task, examples)
    mc_items = [i for i, opts in enumerate(options) if len(opts) > 1]
    if generation == "auto":
        generation = "no" if len(mc_items) == len(examples) else "yes"
    gen_batches = _batches(len(prompts), batch_size) if generation == "yes" else []
    total = len(gen_batches) + 1 + (1 if mc_items else 0)

    start = time.perf_counter()
    predictions: list[str] = []
    for done, (lo, hi) in enumerate(gen_batches, start=1):
        predictions += generate(bundle, prompts[lo:hi], max_new_tokens=max_new_tokens, batch_size=batch_size)
        if progress:
            progress(done, total)
    gen_seconds = time.perf_counter() - start

    rouge = RougeL()
    em = [exact_match(p, ex.answers) for p, ex in zip(predictions, examples, strict=False)]
    rl = [rouge(p, ex.answers) for p, ex in zip(predictions, examples, strict=False)]

    # multiple choice first: each option's NLL, read from one pass over the prompt
    mc_correct: list[float] = []
    chosen: dict[int, str] = {}
    gold_from_options: dict[int, float] = {}
    mc_seconds = 0.0
    if mc_items:
        start = time.perf_counter()
        for i in mc_items:  # the prompt is read once per example, its options scored from the cache
            nll = options_nll(bundle, prompts[i], options[i])
            chosen[i] = options[i][int(nll.argmin())]
            mc_correct.append(float(chosen[i] in examples[i].answers))
            spelled = [o.strip() for o in options[i]]
            if examples[i].output.strip() in spelled:  # the gold answer is an option: its NLL is computed
                gold_from_options[i] = float(nll[spelled.index(examples[i].output.strip())])
        mc_seconds = time.perf_counter() - start
        if progress:
            progress(len(gen_batches) + 1, total)

    # the gold answer's mean token NLL: a continuous score that moves before accuracy does
    start = time.perf_counter()
    rest = [i for i in range(len(examples)) if i not in gold_from_options]
    gold = np.zeros(len(examples))
    gold[rest] = target_nll(
        bundle, [prompts[i] for i in rest], [examples[i].output for i in rest], batch_size=batch_size
    )
    for i, value in gold_from_options.items():
        gold[i] = value
    nll_seconds = time.perf_counter() - start
    if progress:
        progress(total, total)

    def mean(values: Sequence[float]) -> float | None:
        return round(100.0 * sum(values) / len(values), 2) if values else None

    return {
        "target": task.key,
        "model": bundle.name,
        "model_kind": bundle.info.get("kind", "local"),
        "examples": len(examples),
        "available_examples": len(task.examples),
        "metrics": {
            "exact_match": mean(em),
            "rougeL": mean(rl),
            "mc_accuracy": mean(mc_correct),
            "mc_examples": len(mc_items),
            "mc_options": "labels" if mc_items and not any(len(ex.options) > 1 for ex in examples) else "examples",
            "gold_nll": round(float(gold.mean()), 4),
        },
        "timing": {
            "generation_seconds": round(gen_seconds, 3),
            "generation_examples_per_second": round(len(prompts) / gen_seconds, 2) if predictions else None,
            "mc_seconds": round(mc_seconds, 3),
            "mc_examples_per_second": round(len(mc_items) / mc_seconds, 2) if mc_seconds else None,
            "gold_nll_seconds": round(nll_seconds, 3),
        },
        "params": {
            "max_examples": max_examples,
            "batch_size": batch_size,
            "max_new_tokens": max_new_tokens,
            "seed": seed,
            "generation": generation,
            "precision": bundle_precision(bundle) if isinstance(bundle, ModelBundle) else None,
        },
        "predictions": [
            {
                "input": ex.input[:300],
                "prediction": predictions[i] if i < len(predictions) else None,
                "references": list(ex.answers),
                "gold_nll": round(float(gold[i]), 4),
                **({"mc_choice": chosen[i]} if i in chosen else {}),
            }
            for i, ex in enumerate(examples[:keep_predictions])
        ],
    }


def load_tasks(refs: Sequence[str], data_dir: str | Path | None = None, role: str = "target") -> list[Task]:
    """``SOURCE:TASK`` refs (e.g. ``bbh:date_understanding``) -> their Tasks, each source loaded once."""
    from instr_select.loaders import load_source

    loaded: dict[str, Any] = {}
    tasks = []
    for ref in refs:
        source, sep, task_id = ref.partition(":")
        if not sep or not source or not task_id:
            raise DataError(None, f"{role} {ref!r} is not SOURCE:TASK", "e.g. --target bbh:date_understanding")
        if source not in loaded:
            loaded[source] = load_source(source, data_dir=data_dir)
        collection = loaded[source]
        task = collection.find(f"{collection[0].meta_dataset}:{task_id}" if len(collection) else ref)
        task = task or collection.find(task_id)
        if task is None:
            raise DataError(
                None, f"no task {task_id!r} in source {source!r}", "list the tasks with `instr-select inspect`"
            )
        tasks.append(task)
    return tasks


def load_target(ref: str, data_dir: str | Path | None = None) -> Task:
    """``SOURCE:TASK`` (e.g. ``bbh:date_understanding``) -> the Task, loaded from its source."""
    return load_tasks([ref], data_dir)[0]
