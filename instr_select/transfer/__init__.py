"""Transfer matrices: which source tasks help which targets, measured by training, and selectors scored on them."""

from __future__ import annotations

from instr_select.transfer.matrix import TransferMatrix, reliability

__all__ = ["TransferMatrix", "reliability"]
