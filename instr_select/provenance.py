"""What every artifact records about how it was made: library versions."""

from __future__ import annotations

import platform
from importlib import metadata

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
