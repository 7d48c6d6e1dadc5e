"""Prompt-uncertainty task selection (Active Instruction Tuning), the task map and the active loop.

Submodules import torch/transformers only inside the functions that need them.
"""

from __future__ import annotations

from instr_select.uncertainty.perturb import drop_words, perturb_instruction
from instr_select.uncertainty.scoring import (
    ScoreConfig,
    Scorer,
    TaskScore,
    prediction_probability,
    prompt_uncertainty,
    score_task,
    score_tasks,
)
from instr_select.uncertainty.selectors import SELECTORS, select_from_pool

__all__ = [
    "SELECTORS",
    "ScoreConfig",
    "Scorer",
    "TaskScore",
    "drop_words",
    "perturb_instruction",
    "prediction_probability",
    "prompt_uncertainty",
    "score_task",
    "score_tasks",
    "select_from_pool",
]
