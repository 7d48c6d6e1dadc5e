"""Transformer encoders query through their ONNX export: same vectors and rankings as torch, no torch imported."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_index_fixtures import ENTAIL, small_tasks

from instr_select.errors import DataError
from instr_select.index import InstructionIndex, add_to_index, build_index

QUERIES = [ENTAIL, "translate", "", "Summarize the news article about sports. " * 40, "sort the words"]


def tiny_transformer(normalize: bool):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize

    from instr_select.encoder import build_transformer_encoder

    texts = [t for task in small_tasks() for t in task.instructions]
    model = build_transformer_encoder(texts, vocab_size=200, dim=16, layers=2, heads=2, max_length=64, seed=0)
    return SentenceTransformer(modules=[*model, Normalize()], device="cpu") if normalize else model


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "encoder"
    tiny_transformer(normalize=True).save(str(out))
    return out


@pytest.fixture(scope="module")
def onnx_index(encoder_dir: Path) -> Path:
    return build_index(small_tasks(), encoder_dir, encoder_dir.parent / "index")


def test_onnx_vectors_and_rankings_equal_sentence_transformers(onnx_index: Path, encoder_dir: Path) -> None:
    from instr_select.encoder import load_encoder

    index = InstructionIndex.load(onnx_index)
    assert index.manifest.encoder["query_path"] == "onnx" and (onnx_index / "onnx" / "model.onnx").is_file()
    model = load_encoder(encoder_dir)
    expected = model.encode(QUERIES, convert_to_numpy=True)
    np.testing.assert_allclose(index.encoder.encode(QUERIES), expected, atol=1e-4)
    np.testing.assert_allclose(index.encoder.encode([QUERIES[1]])[0], expected[1], atol=1e-4)  # a batch of one
    onnx_scores, onnx_ids = index.dense_hits(index.encode_queries(QUERIES), 10)
    index.encoder = model
    scores, ids = index.dense_hits(index.encode_queries(QUERIES), 10)
    np.testing.assert_array_equal(ids, onnx_ids)
    np.testing.assert_allclose(scores, onnx_scores, atol=1e-4)


def test_mean_pooling_without_normalize(tmp_path: Path) -> None:
    model = tiny_transformer(normalize=False)
    index = InstructionIndex.load(build_index(small_tasks(), model, tmp_path / "index"))
    assert index.manifest.encoder["query_path"] == "onnx"
    np.testing.assert_allclose(index.encoder.encode(QUERIES), model.encode(QUERIES), atol=1e-4)


def test_cold_query_imports_onnxruntime_only(onnx_index: Path) -> None:
    code = (
        "import sys\nfrom instr_select.cli.main import main\n"
        f"main(['query', 'translate to French', '--index', {str(onnx_index)!r}, '--json'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'onnx') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'ORT', 'onnxruntime' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"results"' in proc.stdout and "HEAVY [] ORT True" in proc.stdout


def test_changed_onnx_file_is_refused(onnx_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(onnx_index, copy)
    with (copy / "onnx" / "onnx_options.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(DataError, match="encoder files do not match"):
        InstructionIndex.load(copy)


def test_add_keeps_the_onnx_path(onnx_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(onnx_index, copy)
    add_to_index(copy, small_tasks(meta="other", n_random=2))
    index = InstructionIndex.load(copy)
    assert index.manifest.encoder["query_path"] == "onnx" and "other" in index.meta_datasets
    np.testing.assert_allclose(index.encode_queries([ENTAIL])[0], index.vectors[0], atol=1e-4)


def test_failed_export_falls_back_to_torch(tmp_path: Path, monkeypatch, caplog) -> None:
    from instr_select.index import onnx_query

    def broken(*args, **kwargs):
        raise RuntimeError("exporter unavailable")

    monkeypatch.setattr(onnx_query, "_export", broken)
    with caplog.at_level(logging.WARNING):
        path = build_index(small_tasks(), tiny_transformer(normalize=True), tmp_path / "index")
    assert "ONNX export of the encoder failed (exporter unavailable)" in caplog.text
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["encoder"]["query_path"] == "sentence-transformers" and not (path / "onnx").exists()
    index = InstructionIndex.load(path)
    np.testing.assert_allclose(index.encode_queries([ENTAIL])[0], index.vectors[0], atol=1e-5)


def test_library_bars_stay_off_a_redirected_stderr(encoder_dir: Path, tmp_path: Path, data_dir: Path) -> None:
    """The libraries' own bars (transformers' "Loading weights", sentence-transformers' "Computing
    widget examples") follow the CLI's rule: none unless stderr is a terminal."""
    import os

    from conftest import run_cli

    from instr_select.progress import LIBRARY_BARS_OFF

    env = {k: v for k, v in os.environ.items() if k not in LIBRARY_BARS_OFF}
    out = tmp_path / "index"
    built = run_cli(
        "build-index", "bbh", "--out", str(out), "--encoder", str(encoder_dir), "--data-dir", str(data_dir), env=env
    )
    assert built.code == 0, built.err
    assert InstructionIndex.load(out).manifest.encoder["query_path"] == "onnx"
    aligned = run_cli(
        "train-encoder", "bbh", "--out", str(tmp_path / "aligned"), "--base-model", str(encoder_dir),
        "--epochs", "1", "--batch-size", "8", "--data-dir", str(data_dir), env=env,
    )  # fmt: skip
    assert aligned.code == 0, aligned.err
    for result in (built, aligned):
        assert "Loading weights" not in result.err and "widget" not in result.err and "%|" not in result.err
