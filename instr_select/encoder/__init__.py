"""The instruction encoder: built from scratch or loaded, aligned contrastively, saved in sentence-transformers format.

Heavy libraries (torch, sentence-transformers) are imported inside the functions that use them.
"""

from __future__ import annotations

from instr_select.encoder.build import build_static_encoder, build_transformer_encoder
from instr_select.encoder.io import encoder_hash, is_static_encoder, load_encoder
from instr_select.encoder.train import AlignConfig, train_encoder

__all__ = [
    "AlignConfig",
    "build_static_encoder",
    "build_transformer_encoder",
    "encoder_hash",
    "is_static_encoder",
    "load_encoder",
    "train_encoder",
]
