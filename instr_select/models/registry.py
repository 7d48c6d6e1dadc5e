"""Resolve a model name or path to something the libraries load: a verified local folder or a hub id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from instr_select.errors import ConfigError
from instr_select.models.cache import (
    check_installed,
    installed,
    materialise,
    model_dir,
    pip_command,
    read_manifest,
    verify_cached,
)
from instr_select.models.specs import MODELS, Distilled, ModelSpec
from instr_select.offline import ensure_offline, hub_allowed


def list_models() -> list[ModelSpec]:
    return list(MODELS.values())


def find_spec(name: str) -> ModelSpec | None:
    """The registry entry for a short name or alias (case-insensitive), else None."""
    key = name.strip().lower()
    for spec in MODELS.values():
        if key == spec.name or key in spec.aliases:
            return spec
    return None


def get_spec(name: str) -> ModelSpec:
    spec = find_spec(name)
    if spec is None:
        raise ConfigError(f"unknown model {name!r} (known models: {', '.join(MODELS)}; or give a local folder)")
    return spec


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


def _base_ready(spec: ModelSpec) -> None:
    """A distilled model needs its base installed; check before any work starts."""
    if isinstance(spec.source, Distilled):
        _base_ready(get_spec(spec.source.base))
    else:
        check_installed(spec)


def resolve_model(name_or_path: str | Path, *, kind: str | None = None, verify: bool = False) -> str:
    """A registry name -> its verified cache folder (materialised on first use); a path -> itself.

    A name that is neither a known model nor an existing path is returned as a hub id when the hub
    is allowed (``HF_HUB_OFFLINE=0``); otherwise it is a one-line ConfigError naming the known models.
    ``kind`` (``sentence-transformer``, ``static``, ``causal-lm``) rejects a model of another kind.
    """
    ensure_offline()
    text = str(name_or_path)
    path = Path(text).expanduser()
    spec = find_spec(text) if not path.exists() else None
    if spec is None:
        if path.exists():
            return str(path)
        if _looks_like_hub_id(text) and hub_allowed():
            return text
        hint = "" if not _looks_like_hub_id(text) else "; hub names load only with HF_HUB_OFFLINE=0"
        raise ConfigError(
            f"unknown model {text!r}: not a registry name ({', '.join(MODELS)}) nor an existing folder{hint}"
        )
    if kind is not None and spec.kind != kind:
        raise ConfigError(f"model {spec.name!r} is a {spec.kind} model, not a {kind} model (see `instr-select models`)")
    directory = model_dir(spec)
    if read_manifest(directory) is None:
        if not _installed_tree(spec) and spec.hub_id and hub_allowed():
            return spec.hub_id
        _base_ready(spec)
        directory = materialise(spec)
    verify_cached(spec, directory, full=verify)
    return str(directory)


def _installed_tree(spec: ModelSpec) -> bool:
    if isinstance(spec.source, Distilled):
        return _installed_tree(get_spec(spec.source.base))
    return installed(spec)


@dataclass(frozen=True)
class ModelStatus:
    """What ``instr-select models`` shows for one registry entry."""

    spec: ModelSpec
    installed: bool
    ready: bool
    verified: bool | None
    problem: str
    path: str
    install: str


def model_status(spec: ModelSpec, verify: bool = False) -> ModelStatus:
    """Installed (packages at their pinned versions), ready (materialised), verified (hashes, with ``verify``)."""
    directory = model_dir(spec)
    is_installed = _installed_tree(spec)
    ready = read_manifest(directory) is not None
    verified: bool | None = None
    problem = ""
    if ready and verify:
        try:
            verify_cached(spec, directory, full=True)
            verified = True
        except ConfigError as exc:
            verified, problem = False, str(exc)
    base = spec if not isinstance(spec.source, Distilled) else get_spec(spec.source.base)
    return ModelStatus(
        spec=spec,
        installed=is_installed,
        ready=ready,
        verified=verified,
        problem=problem,
        path=str(directory),
        install=pip_command(base),
    )
