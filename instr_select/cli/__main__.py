"""``python -m instr_select.cli``: the same as ``instr-select`` (useful with accelerate/torchrun)."""

from __future__ import annotations

from instr_select.cli.main import main

if __name__ == "__main__":
    main()
