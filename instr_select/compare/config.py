"""What a comparison runs: targets, pool, selectors, budget and seeds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError

SELECTORS = ("random", "bm25", "instruction", "aligned", "uncertainty")
# Default experiment (README): BIG-bench tasks and subtasks with examples, the NIV2 task files and
# the Self-Instruct seed tasks as the pool; BBH tasks as targets.
DEFAULT_POOL = ("bigbench", "niv2", "self_instruct@seed")


@dataclass
class Budget:
    """The same training budget for every selection."""

    examples_per_task: int = 16
    max_steps: int = 12
    batch_size: int = 8
    learning_rate: float | None = None  # None: the tuning default of the model and method
    eval_examples: int = 30
    max_source_length: int = 192
    method: str = "full"  # full fine-tuning or lora
    precision: str = "auto"  # training and scoring: auto, bf16 (autocast) or fp32


@dataclass
class CompareConfig:
    """One comparison run; everything that changes a result is part of its hash."""

    targets: list[str]
    pool: list[str] = field(default_factory=lambda: list(DEFAULT_POOL))
    k: int = 5
    selectors: list[str] = field(default_factory=lambda: list(SELECTORS))
    seeds: int = 3
    model: str = "smollm2-135m"
    budget: Budget = field(default_factory=Budget)
    uncertainty_instances: int = 5
    uncertainty_perturbations: int = 5
    uncertainty_candidates: int = 200  # tasks scored per seed (a seeded sample of the pool); 0 = all
    base_encoder: str | None = None
    aligned_encoder: str | None = None
    encoder_epochs: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.budget, dict):
            self.budget = Budget(**self.budget)
        unknown = [s for s in self.selectors if s not in SELECTORS]
        if unknown:
            raise ConfigError(f"unknown selector {unknown[0]!r} (choose from: {', '.join(SELECTORS)})")
        if not self.selectors:
            raise ConfigError("no selector given (e.g. --selectors random,bm25,aligned)")
        if len(set(self.selectors)) != len(self.selectors):
            raise ConfigError("a selector is named twice in --selectors")
        if self.seeds <= 0:
            raise ConfigError(f"--seeds must be a positive number of seeds, got {self.seeds}")
        if self.k <= 0:
            raise ConfigError(f"-k must be >= 1, got {self.k}")
        if not self.targets:
            raise ConfigError("no target: pass --target-task SOURCE:TASK or --targets FILE")
        for target in self.targets:
            if ":" not in target:
                raise ConfigError(f"target {target!r} must look like SOURCE:TASK (e.g. bbh:date_understanding)")
        if not self.pool:
            raise ConfigError("no pool: pass --pool SOURCE (e.g. --pool bigbench)")
        budget = self.budget
        if self.uncertainty_candidates < 0:
            raise ConfigError(f"--uncertainty-candidates must be >= 0, got {self.uncertainty_candidates}")
        from instr_select.tuning.precision import check_precision

        check_precision(budget.precision)
        if budget.method not in ("full", "lora"):
            raise ConfigError(f"--method must be full or lora, not {budget.method!r}")
        if budget.learning_rate is not None and budget.learning_rate <= 0:
            raise ConfigError(f"--learning-rate must be positive, got {budget.learning_rate}")
        for name in ("examples_per_task", "max_steps", "batch_size", "eval_examples", "max_source_length"):
            if getattr(budget, name) <= 0:
                raise ConfigError(f"budget {name} must be >= 1, got {getattr(budget, name)}")
        from instr_select.tuning.train import MAX_PASSES

        most = self.k * budget.examples_per_task * MAX_PASSES
        if budget.max_steps * budget.batch_size > most:
            raise ConfigError(
                f"--max-steps {budget.max_steps} x --batch-size {budget.batch_size} cannot fit: -k {self.k} tasks x "
                f"--examples-per-task {budget.examples_per_task} give at most {most} examples in {MAX_PASSES} passes "
                "(lower --max-steps or raise --examples-per-task)"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved_precision(self) -> str:
        """``bf16`` or ``fp32``: the budget's precision for the base model on this machine."""
        from instr_select.tuning.precision import model_precision

        return model_precision(self.model, self.budget.precision)

    @property
    def hash(self) -> str:
        """Hash of what determines the results (targets and selectors may grow between resumes);
        the precision counts as :func:`instr_select.tuning.precision.budget_fields` says."""
        from instr_select.tuning.precision import budget_fields

        fixed = {k: v for k, v in self.to_dict().items() if k not in {"targets", "selectors", "seeds"}}
        fixed["budget"] = budget_fields(fixed["budget"], self.model)
        return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:16]


def read_targets(path: str | Path) -> list[str]:
    """A targets file: one ``SOURCE:TASK`` per line (``#`` comments and blank lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: targets file does not exist (one SOURCE:TASK per line)")
    from instr_select.loaders.files import read_text

    lines = [line.split("#", 1)[0].strip() for line in read_text(path).splitlines()]
    targets = [line for line in lines if line]
    if not targets:
        raise ConfigError(f"{path}: no targets in the file (one SOURCE:TASK per line)")
    return targets
