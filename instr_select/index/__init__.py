"""Instruction index: a directory with FAISS vectors, instruction/task tables, encoder and manifest."""

from __future__ import annotations

from instr_select.index.build import add_to_index, build_index
from instr_select.index.manifest import FORMAT_VERSION, Manifest
from instr_select.index.static import NumpyStaticEncoder
from instr_select.index.store import InstructionIndex, TaskRecord

__all__ = [
    "FORMAT_VERSION",
    "InstructionIndex",
    "Manifest",
    "NumpyStaticEncoder",
    "TaskRecord",
    "add_to_index",
    "build_index",
]
