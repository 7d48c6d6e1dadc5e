"""What every artifact records about how it was made: the command line and library versions."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from importlib import metadata
from typing import Any

CORE_PACKAGES = ("instr-select", "numpy", "tokenizers")


def library_versions(*packages: str) -> dict[str, str]:
    """Python's version and each installed distribution's (read from metadata, nothing is imported)."""
    versions = {"python": platform.python_version()}
    for name in dict.fromkeys((*CORE_PACKAGES, *packages)):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def command_line(argv: list[str] | None = None) -> str:
    """The running command, quoted with ``shlex.join`` so it can be pasted back into a shell."""
    argv = list(sys.argv if argv is None else argv)
    if argv and os.path.basename(argv[0]) == "instr-select":
        argv[0] = "instr-select"
    return shlex.join(argv)


def provenance(*packages: str) -> dict[str, Any]:
    """``{"command": ..., "versions": ...}`` for an artifact's manifest."""
    return {"command": command_line(), "versions": library_versions(*packages)}
