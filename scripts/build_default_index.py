"""Build the default index: a thin wrapper around ``instr-select build-default``.

python scripts/build_default_index.py [--data-dir DIR] [--out DIR] [--recipe FILE] [--force]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from instr_select.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["build-default", *sys.argv[1:]]))
