"""The ``instr-select`` command line."""

from __future__ import annotations

from instr_select.cli.main import cli, main

__all__ = ["cli", "main"]
