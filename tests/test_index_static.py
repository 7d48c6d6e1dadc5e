"""The numpy StaticEmbedding reproduces sentence-transformers' encode exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_index_fixtures import small_tasks, tiny_static_model

from instr_select.index.static import NumpyStaticEncoder

TEXTS = [
    "Decide whether the second sentence follows from the first.",
    "",
    "   ",
    "qzxv unseen wordpieces ßü 中文",
    "Translate the sentence from English to French. " * 30,
]


@pytest.mark.parametrize("normalize", [False, True])
def test_numpy_path_equals_sentence_transformers(tmp_path, normalize: bool) -> None:
    texts = [t for task in small_tasks() for t in task.instructions]
    model = tiny_static_model(texts, normalize=normalize)
    expected = model.encode(TEXTS, convert_to_numpy=True)
    in_memory = NumpyStaticEncoder.from_model(model)
    assert in_memory is not None and in_memory.normalize == normalize
    np.testing.assert_allclose(in_memory.encode(TEXTS), expected, atol=1e-5)
    model.save(str(tmp_path / "m"))
    from_dir = NumpyStaticEncoder.from_model_dir(tmp_path / "m")
    np.testing.assert_allclose(from_dir.encode(TEXTS), expected, atol=1e-5)
    from_dir.save(tmp_path / "exported")
    reloaded = NumpyStaticEncoder.load(tmp_path / "exported", normalize=normalize)
    np.testing.assert_allclose(reloaded.encode(TEXTS), expected, atol=1e-5)
    assert not reloaded.encode([""]).any()  # empty token list -> zero vector, as EmbeddingBag gives


def test_non_static_model_is_not_taken_for_static(tmp_path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    model = tiny_static_model(["a b c d", "e f g h"], dim=8)
    stacked = SentenceTransformer(modules=[model[0], Dense(8, 4)], device="cpu")
    assert NumpyStaticEncoder.from_model(stacked) is None
    stacked.save(str(tmp_path / "dense"))
    assert NumpyStaticEncoder.from_model_dir(tmp_path / "dense") is None
