"""Encoders built from scratch on instruction text: a static (embedding-bag) model and a small Transformer.

The static encoder's token embeddings are initialised deterministically from the corpus, not at
random: a seeded truncated SVD of the document x token TF-IDF matrix (latent semantic analysis),
each token row scaled by its IDF and each component by 1/sqrt(singular value). Mean pooling over a text's tokens then equals the LSA projection
of the text's TF-IDF vector (up to length), so the untrained encoder is already a sensible,
unsupervised retriever that alignment only refines.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instr_select.encoder.vocab import train_wordpiece
from instr_select.offline import ensure_offline


@dataclass
class StaticInit:
    """How the static embedding matrix was initialised (recorded in training_info.json)."""

    method: str = "tfidf-lsa"
    components: int = 0
    documents: int = 0


def _randomized_svd(matrix, k: int, seed: int, oversample: int = 10, iterations: int = 4):
    """Seeded randomized truncated SVD (Halko et al.) of a scipy sparse matrix: returns (S, Vt)."""
    rng = np.random.default_rng(seed)
    n_cols = matrix.shape[1]
    width = min(k + oversample, min(matrix.shape))
    q = matrix @ rng.standard_normal((n_cols, width))
    for _ in range(iterations):
        q, _ = np.linalg.qr(q)
        q, _ = np.linalg.qr(matrix.T @ q)
        q = matrix @ q
    q, _ = np.linalg.qr(q)
    small = (matrix.T @ q).T
    _, s, vt = np.linalg.svd(small, full_matrices=False)
    # Fix the sign of each component so the result does not depend on LAPACK details.
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1
    return s[:k], (vt * signs[:, None])[:k]


def lsa_token_embeddings(tokenizer, texts: Sequence[str], dim: int, seed: int = 0) -> tuple[np.ndarray, StaticInit]:
    """Token embedding matrix (vocab x dim, float32) from a TF-IDF/LSA decomposition of ``texts``."""
    from scipy import sparse

    vocab_size = tokenizer.get_vocab_size()
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    rows, cols = [], []
    for i, enc in enumerate(encodings):
        rows.extend([i] * len(enc.ids))
        cols.extend(enc.ids)
    counts = sparse.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(encodings), vocab_size))
    counts.sum_duplicates()
    doc_freq = np.bincount(counts.indices, minlength=vocab_size)
    idf = np.log((1 + len(encodings)) / (1 + doc_freq)) + 1.0
    idf[doc_freq == 0] = 0.0  # tokens never seen in the corpus contribute nothing
    tfidf = sparse.csr_matrix(counts.multiply(idf[None, :]))
    tfidf = sparse.csr_matrix(tfidf.multiply(1.0 / np.maximum(sparse.linalg.norm(tfidf, axis=1), 1e-12)[:, None]))
    rank = max(1, min(dim, min(tfidf.shape) - 1))
    singular, vt = _randomized_svd(tfidf, rank, seed)
    scale = 1.0 / np.sqrt(np.maximum(singular, 1e-6))  # soften the dominant (common) components
    weights = np.zeros((vocab_size, dim), dtype=np.float32)
    weights[:, :rank] = (vt.T * idf[:, None] * scale[None, :]).astype(np.float32)
    return weights, StaticInit(components=rank, documents=len(encodings))


def build_static_encoder(
    texts: Sequence[str], vocab_size: int = 8000, dim: int = 256, seed: int = 0, pre_tokenizer: str = "bert"
):
    """A ``SentenceTransformer`` of one ``StaticEmbedding`` module, built from scratch on ``texts``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    texts = [t for t in texts if t.strip()]
    tokenizer = train_wordpiece(texts, vocab_size=vocab_size, pre_tokenizer=pre_tokenizer)
    weights, init = lsa_token_embeddings(tokenizer, texts, dim, seed)
    module = StaticEmbedding(tokenizer, embedding_weights=weights)
    model = SentenceTransformer(modules=[module], device="cpu")
    model._instr_select_init = {  # read by train_encoder for training_info.json
        "architecture": "static",
        "vocab_size": tokenizer.get_vocab_size(),
        "dim": dim,
        "seed": seed,
        "pre_tokenizer": pre_tokenizer,
        "init": init.__dict__,
    }
    return model


def build_transformer_encoder(
    texts: Sequence[str],
    vocab_size: int = 8000,
    dim: int = 128,
    layers: int = 2,
    heads: int = 4,
    max_length: int = 256,
    seed: int = 0,
    pre_tokenizer: str = "bert",
):
    """A small BERT-style Transformer with mean pooling, randomly initialised (seeded), WordPiece on ``texts``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    texts = [t for t in texts if t.strip()]
    tokenizer = train_wordpiece(texts, vocab_size=vocab_size, pre_tokenizer=pre_tokenizer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=dim,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=dim * 4,
        max_position_embeddings=max_length,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(seed)
    bert = BertModel(config)
    with tempfile.TemporaryDirectory(prefix="instr-select-bert-") as tmp:
        bert.save_pretrained(tmp)
        fast.save_pretrained(tmp)
        ensure_offline()
        transformer = Transformer(tmp, max_seq_length=max_length)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling], device="cpu")
    model._instr_select_init = {
        "architecture": "transformer",
        "vocab_size": tokenizer.get_vocab_size(),
        "dim": dim,
        "layers": layers,
        "heads": heads,
        "seed": seed,
        "pre_tokenizer": pre_tokenizer,
    }
    return model
