"""Length-chunked embedding: the same embeddings and loss as one padded forward, rows in their order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_encoder_build import corpus, toy_tasks  # noqa: E402

torch = pytest.importorskip("torch")

TEXTS = [
    "summarize",
    "translate the following english text into french please and keep the names as they are",
    "a question",
    "given the premise and the hypothesis decide whether the hypothesis follows",
    "topic",
    "write a short headline for the news article below",
    "answer the question from the passage",
]


@pytest.fixture(scope="module")
def transformer():
    from instr_select.encoder import build_transformer_encoder

    model = build_transformer_encoder(corpus(toy_tasks()), vocab_size=200, dim=16, layers=2, heads=2, seed=0)
    model.eval()  # no dropout: chunked and whole forwards must agree
    return model


@pytest.mark.parametrize("chunks", [2, 3, 7, 20])
def test_chunked_embeddings_match_one_forward_row_by_row(transformer, chunks):
    from instr_select.encoder.losses import embed_by_length

    features = transformer.preprocess(TEXTS)
    assert features["attention_mask"].sum(1).unique().numel() > 3  # the rows really differ in length
    with torch.no_grad():
        whole = transformer(dict(features))["sentence_embedding"]
        chunked = embed_by_length(transformer, dict(features), chunks)
    assert chunked.shape == whole.shape
    assert torch.allclose(chunked, whole, atol=1e-5)


def test_left_padded_rows_are_not_cut(transformer):
    from instr_select.encoder.losses import embed_by_length

    features = transformer.preprocess(TEXTS)
    mask = features["attention_mask"]
    lengths = mask.sum(1)
    tokens = [key for key, value in features.items() if isinstance(value, torch.Tensor) and value.ndim == 2]
    left = dict(features) | {key: torch.zeros_like(features[key]) for key in tokens}
    for row, n in enumerate(lengths.tolist()):  # the same tokens, padded on the left
        for key in tokens:
            left[key][row, mask.shape[1] - n :] = features[key][row, :n]
    with torch.no_grad():
        expected = transformer(dict(left))["sentence_embedding"]
        got = embed_by_length(transformer, dict(left), 4)
    assert torch.equal(got, expected)


def test_static_model_runs_in_one_piece():
    from instr_select.encoder import build_static_encoder
    from instr_select.encoder.losses import embed_by_length

    model = build_static_encoder(corpus(toy_tasks()), vocab_size=200, dim=8, seed=0)
    features = model.preprocess(TEXTS)
    with torch.no_grad():
        assert torch.equal(embed_by_length(model, dict(features), 4), model(dict(features))["sentence_embedding"])


def test_chunked_loss_equals_the_plain_loss_and_its_gradients(transformer):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from instr_select.encoder.losses import LengthChunkedMNRL

    anchors, positives = TEXTS, TEXTS[1:] + TEXTS[:1]

    def loss_and_grad(loss):
        transformer.zero_grad()
        value = loss([transformer.preprocess(anchors), transformer.preprocess(positives)], None)
        value.backward()
        grad = transformer[0].auto_model.embeddings.word_embeddings.weight.grad.clone()
        return value.detach(), grad

    plain, plain_grad = loss_and_grad(MultipleNegativesRankingLoss(transformer))
    chunked, chunked_grad = loss_and_grad(LengthChunkedMNRL(transformer, length_chunks=3))
    transformer.zero_grad()
    assert plain_grad.abs().sum() > 0
    assert torch.allclose(chunked, plain, atol=1e-5)
    assert torch.allclose(chunked_grad, plain_grad, atol=1e-5)
