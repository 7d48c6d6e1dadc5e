"""Instruction perturbations: drop each word independently with a fixed probability (seeded)."""

from __future__ import annotations

import hashlib
import random


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` that is the same on every run and machine."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def drop_words(instruction: str, drop_prob: float, rng: random.Random) -> str:
    """Drop each whitespace-separated word with probability ``drop_prob``; keep at least one word.

    When every word is dropped, one word chosen by ``rng`` is kept, so a one-word instruction
    stays itself and the prompt never loses its instruction entirely.
    """
    if not 0.0 <= drop_prob <= 1.0:
        raise ValueError(f"drop probability must lie in [0, 1], got {drop_prob}")
    words = instruction.split()
    if not words:
        return instruction
    kept = [w for w in words if rng.random() >= drop_prob]
    if not kept:
        kept = [words[rng.randrange(len(words))]]
    return " ".join(kept)


def perturb_instruction(instruction: str, k: int = 10, drop_prob: float = 0.2, seed: int | str = 0) -> list[str]:
    """``k`` perturbed copies of ``instruction`` (word dropout), reproducible from ``seed``."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    rng = random.Random(stable_seed("perturb", seed, instruction))
    return [drop_words(instruction, drop_prob, rng) for _ in range(k)]


def sample_indices(total: int, n: int, seed: int | str) -> list[int]:
    """``min(n, total)`` distinct indices in ``range(total)``, seeded and in ascending order."""
    if n >= total:
        return list(range(total))
    rng = random.Random(stable_seed("instances", seed))
    return sorted(rng.sample(range(total), n))
