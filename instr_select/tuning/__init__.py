"""Tuning backend: training mixtures, export formats, instruction tuning and target evaluation.

Submodules import torch/transformers/datasets only inside the functions that need them.
"""

from __future__ import annotations

__all__ = ["evaluate", "export", "mixture", "modeling", "train"]
