"""instr-select: choose instruction-tuning tasks from their instructions alone."""

from __future__ import annotations

from instr_select.errors import InstrSelectError
from instr_select.loaders import load_source, load_sources
from instr_select.tasks import Example, Task, TaskCollection

__version__ = "0.1.0"

__all__ = ["Example", "InstrSelectError", "Task", "TaskCollection", "__version__", "load_source", "load_sources"]
