"""Meta-dataset loaders, looked up by name in a registry."""

from __future__ import annotations

from instr_select.loaders.registry import (
    LoaderSpec,
    LoadReport,
    get_loader,
    load_source,
    load_sources,
    loader_names,
    parse_source,
    register,
)

__all__ = [
    "LoadReport",
    "LoaderSpec",
    "get_loader",
    "load_source",
    "load_sources",
    "loader_names",
    "parse_source",
    "register",
]
