"""Instruction index: a directory with FAISS vectors, instruction/task tables, encoder and manifest.

Names are imported on first use, so the query path (``InstructionIndex``) never loads the build
code (FAISS, encoders, text views).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FORMAT_VERSION": "instr_select.index.manifest",
    "InstructionIndex": "instr_select.index.store",
    "Manifest": "instr_select.index.manifest",
    "NumpyStaticEncoder": "instr_select.index.static",
    "TaskRecord": "instr_select.index.store",
    "add_to_index": "instr_select.index.build",
    "build_index": "instr_select.index.build",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'instr_select.index' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
