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

from instr_select.errors import DataError
from instr_select.tasks import Example, Task
from instr_select.tuning.mixture import MixtureConfig, render_example, task_instruction
from instr_select.tuning.modeling import ModelBundle, generate, target_nll

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


def sample_examples(task: Task, max_examples: int | None, seed: int = 0) -> list[Example]:
    examples = list(task.examples)
    if not examples:
        raise DataError(None, f"target {task.key!r} has no examples", "pick a target task with examples")
    if max_examples is not None and len(examples) > max_examples:
        rng = random.Random(f"{seed}:{task.key}")
        examples = [examples[i] for i in sorted(rng.sample(range(len(examples)), max_examples))]
    return examples


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
) -> dict[str, Any]:
    """Score ``bundle`` on ``task``; returns the report (metrics in percent, counts, timings)."""
    examples = sample_examples(task, max_examples, seed)
    instruction = task_instruction(task, MixtureConfig())
    records = [render_example(task, ex, instruction) for ex in examples]
    prompts = [r["prompt"] for r in records]
    mc_items = [i for i, ex in enumerate(examples) if len(ex.options) > 1]
    total = len(_batches(len(prompts), batch_size)) + (1 if mc_items else 0)

    start = time.perf_counter()
    predictions: list[str] = []
    for done, (lo, hi) in enumerate(_batches(len(prompts), batch_size), start=1):
        predictions += generate(bundle, prompts[lo:hi], max_new_tokens=max_new_tokens, batch_size=batch_size)
        if progress:
            progress(done, total)
    gen_seconds = time.perf_counter() - start

    rouge = RougeL()
    em = [exact_match(p, ex.answers) for p, ex in zip(predictions, examples, strict=True)]
    rl = [rouge(p, ex.answers) for p, ex in zip(predictions, examples, strict=True)]

    mc_correct: list[float] = []
    chosen: dict[int, str] = {}
    mc_seconds = 0.0
    if mc_items:
        start = time.perf_counter()
        pairs = [(i, opt) for i in mc_items for opt in examples[i].options]
        nll = target_nll(bundle, [prompts[i] for i, _ in pairs], [opt for _, opt in pairs], batch_size=batch_size)
        best: dict[int, tuple[float, str]] = {}
        for (i, opt), value in zip(pairs, nll, strict=True):
            if i not in best or value < best[i][0]:
                best[i] = (float(value), opt)
        for i in mc_items:
            chosen[i] = best[i][1]
            mc_correct.append(float(best[i][1] in examples[i].answers))
        mc_seconds = time.perf_counter() - start
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
        },
        "timing": {
            "generation_seconds": round(gen_seconds, 3),
            "generation_examples_per_second": round(len(prompts) / gen_seconds, 2) if gen_seconds else None,
            "mc_seconds": round(mc_seconds, 3),
        },
        "params": {
            "max_examples": max_examples,
            "batch_size": batch_size,
            "max_new_tokens": max_new_tokens,
            "seed": seed,
        },
        "predictions": [
            {
                "input": ex.input[:300],
                "prediction": pred,
                "references": list(ex.answers),
                **({"mc_choice": chosen[i]} if i in chosen else {}),
            }
            for i, (ex, pred) in enumerate(zip(examples, predictions, strict=True))
            if i < keep_predictions
        ],
    }


def load_target(ref: str, data_dir: str | Path | None = None) -> Task:
    """``SOURCE:TASK`` (e.g. ``bbh:date_understanding``) -> the Task, loaded from its source."""
    from instr_select.loaders import load_source

    source, sep, task_id = ref.partition(":")
    if not sep or not source or not task_id:
        raise DataError(None, f"target {ref!r} is not SOURCE:TASK", "e.g. --target bbh:date_understanding")
    tasks = load_source(source, data_dir=data_dir)
    task = tasks.find(f"{tasks[0].meta_dataset}:{task_id}" if len(tasks) else ref) or tasks.find(task_id)
    if task is None:
        raise DataError(None, f"no task {task_id!r} in source {source!r}", "list the tasks with `instr-select inspect`")
    return task
