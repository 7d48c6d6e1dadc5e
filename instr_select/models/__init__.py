"""The model registry: short names for pretrained encoders and tuning models, hash-checked offline."""

from __future__ import annotations

from instr_select.models.cache import cache_root
from instr_select.models.registry import ModelStatus, get_spec, hub_allowed, list_models, model_status, resolve_model
from instr_select.models.specs import ModelSpec

__all__ = [
    "ModelSpec",
    "ModelStatus",
    "cache_root",
    "get_spec",
    "hub_allowed",
    "list_models",
    "model_status",
    "resolve_model",
]
