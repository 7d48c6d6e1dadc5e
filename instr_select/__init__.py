"""instr-select: choose instruction-tuning tasks from their instructions alone."""

from __future__ import annotations

import importlib
from typing import Any

from instr_select.errors import InstrSelectError

__version__ = "0.1.0"

# imported on first use: `instr-select --help` and `query` load only what they need
_EXPORTS = {
    "Example": "instr_select.tasks",
    "Task": "instr_select.tasks",
    "TaskCollection": "instr_select.tasks",
    "load_source": "instr_select.loaders",
    "load_sources": "instr_select.loaders",
}

__all__ = ["Example", "InstrSelectError", "Task", "TaskCollection", "__version__", "load_source", "load_sources"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'instr_select' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
