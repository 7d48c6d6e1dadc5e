"""Builders shared by the index/query tests: a small task collection and a tiny StaticEmbedding model."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from instr_select.tasks import Task, TaskCollection

WORDS = [
    "decide",
    "whether",
    "sentence",
    "follows",
    "first",
    "second",
    "premise",
    "hypothesis",
    "translate",
    "french",
    "english",
    "summarize",
    "article",
    "answer",
    "question",
    "passage",
    "count",
    "objects",
    "sort",
    "words",
    "date",
    "reasoning",
    "sentiment",
    "review",
    "positive",
    "negative",
    "classify",
    "topic",
    "news",
    "sports",
    "story",
    "write",
    "poem",
    "rhyme",
    "solve",
    "math",
    "problem",
    "arithmetic",
    "multiply",
    "numbers",
    "list",
]

ENTAIL = "Decide whether the second sentence follows from the first."


def small_tasks(meta: str = "toy", n_random: int = 40, seed: int = 0) -> TaskCollection:
    """Hand-written tasks (entailment, translation) plus seeded random ones, 3 instructions each."""
    rng = random.Random(seed)
    tasks = [
        Task("rte_a", meta, [ENTAIL, "Does the hypothesis follow from the premise?"], ["entailment"], source="RTE"),
        Task("rte_b", meta, ["Is the second sentence entailed by the first sentence?"], ["entailment"], source="rte"),
        Task(
            "anli", meta, ["Does the premise entail the hypothesis? Answer yes or no."], ["entailment"], source="anli"
        ),
        Task("translate", meta, ["Translate the sentence from English to French."], ["translation"], source="wmt"),
    ]
    for i in range(n_random):
        instructions = [" ".join(rng.choices(WORDS, k=8)).capitalize() + "." for _ in range(3)]
        tasks.append(Task(f"random_{i}", meta, instructions, [f"cat{i % 5}"], source=f"src{i}"))
    return TaskCollection(tasks)


def tiny_static_model(texts: list[str], dim: int = 16, normalize: bool = False, seed: int = 0):
    """A sentence-transformers StaticEmbedding model over a WordPiece tokenizer trained on ``texts``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding

    from instr_select.encoder.vocab import train_wordpiece

    tokenizer = train_wordpiece(texts, vocab_size=400)  # deterministic, unlike the tokenizers trainer
    weights = np.random.default_rng(seed).standard_normal((tokenizer.get_vocab_size(), dim)).astype(np.float32)
    modules = [StaticEmbedding(tokenizer, embedding_weights=weights)] + ([Normalize()] if normalize else [])
    return SentenceTransformer(modules=modules, device="cpu")


def save_tiny_model(out: Path, tasks: TaskCollection, dim: int = 16, normalize: bool = False, seed: int = 0) -> Path:
    texts = [text for task in tasks for text in task.instructions] + ["Translate sentences into German."]
    tiny_static_model(texts, dim=dim, normalize=normalize, seed=seed).save(str(out))
    return out


def test_small_tasks_are_deterministic() -> None:
    first, second = small_tasks(), small_tasks()
    assert [t.instructions for t in first] == [t.instructions for t in second]
    assert len({t.source_key for t in first}) == len(first) - 1  # RTE and rte share a source
