"""Alignment losses (imported lazily: they need torch and sentence-transformers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from sentence_transformers.sentence_transformer import losses
from torch import Tensor


def embed_by_length(model: Any, features: dict[str, Any], chunks: int) -> Tensor:
    """Sentence embeddings of one padded column, computed in ``chunks`` groups of rows of similar length.

    Each group is cut to its own longest row, so short instructions are not run at the batch's
    longest width; rows come back in their original order. A column that is not right-padded
    token rows (a static model's flat token stream, a left-padding tokenizer) runs in one piece.
    """
    mask = features.get("attention_mask")
    rows = mask.shape[0] if isinstance(mask, Tensor) and mask.ndim == 2 else 0
    if chunks <= 1 or rows < 2 or not bool((mask[:, 1:] <= mask[:, :-1]).all()):
        return model(features)["sentence_embedding"]
    lengths = mask.sum(dim=1)
    order = torch.argsort(lengths, stable=True)
    parts = []
    for part in order.tensor_split(min(chunks, rows)):
        width = int(lengths[part].max())
        piece = {
            key: value[part, :width] if value.ndim == 2 else value[part]
            for key, value in features.items()
            if isinstance(value, Tensor) and value.ndim in (1, 2) and value.shape[0] == rows
        }
        piece |= {key: value for key, value in features.items() if key not in piece}
        parts.append(model(piece)["sentence_embedding"])
    return torch.cat(parts)[torch.argsort(order)]


class LengthChunkedMNRL(losses.MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss whose columns are embedded by :func:`embed_by_length`.

    The batch, its in-batch negatives and the loss are unchanged; only padding is cut (the alignment
    batches' longest instruction is about 2.5 times their mean length).
    """

    def __init__(self, model: Any, length_chunks: int = 4, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.length_chunks = length_chunks

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = [embed_by_length(self.model, features, self.length_chunks) for features in sentence_features]
        return self.compute_loss_from_embeddings(embeddings, labels)
