"""Build, load, append, atomic writes and load-time validation of an index directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_index_fixtures import ENTAIL, save_tiny_model, small_tasks

from instr_select.errors import ConfigError, DataError
from instr_select.index import FORMAT_VERSION, InstructionIndex, add_to_index, build_index
from instr_select.tasks import Task, TaskCollection


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("enc") / "model", small_tasks())


@pytest.fixture
def built(tmp_path, encoder_dir) -> Path:
    return build_index(small_tasks(), encoder_dir, tmp_path / "index", command="test build")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_round_trip(built: Path, encoder_dir: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    tasks = small_tasks()
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["dim"] == 16 and manifest["metric"] == "inner_product"
    assert manifest["factory"] == "IDMap2,Flat"  # small collection: exact search
    assert manifest["counts"]["instructions"] == sum(len(t.instructions) for t in tasks)
    assert manifest["counts"]["tasks"] == len(tasks)
    assert manifest["encoder"]["query_path"] == "numpy" and manifest["command"] == "test build"
    assert {"faiss-cpu", "numpy", "tokenizers"} <= set(manifest["versions"])
    index = InstructionIndex.load(built)
    assert index.texts == [text for t in tasks for text in t.instructions]
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-5)
    rows = [json.loads(line) for line in (built / "instructions.jsonl").read_text().splitlines()]
    assert rows[0] == {"id": 0, "task": "toy:rte_a", "meta_dataset": "toy", "text": ENTAIL}
    # the loaded encoder embeds a stored instruction to the stored vector
    np.testing.assert_allclose(index.encode_queries([ENTAIL])[0], index.vectors[0], atol=1e-5)
    assert InstructionIndex.load(built, encoder=encoder_dir).manifest.encoder["hash"] == manifest["encoder"]["hash"]


def test_in_memory_index_matches_directory(built: Path, encoder_dir: Path) -> None:
    memory = InstructionIndex.from_tasks(small_tasks(), encoder_dir)
    assert memory.directory is None
    np.testing.assert_allclose(memory.vectors, InstructionIndex.load(built).vectors, atol=1e-6)


def test_add_appends_without_touching_existing_vectors(built: Path) -> None:
    before = np.load(built / "vectors.npy").copy()
    extra = TaskCollection([Task("german", "other", ["Translate sentences into German."], ["translation"])])
    add_to_index(built, extra, command="test add")
    index = InstructionIndex.load(built)
    assert np.array_equal(index.vectors[: len(before)], before)
    assert len(index) == len(before) + 1 and index.tasks[-1].key == "other:german"
    assert index.meta_datasets == ["other", "toy"]
    manifest = index.manifest
    assert manifest.counts["meta_datasets"] == {"toy": len(small_tasks()), "other": 1}
    assert [h["action"] for h in manifest.history] == ["build", "add"]
    hits_scores, hits = index.dense_hits(index.encode_queries(["Translate sentences into German."]), 1)
    assert hits[0][0] == len(before)
    with pytest.raises(DataError, match="already in the index"):
        add_to_index(built, extra)


def test_failed_build_leaves_existing_index_byte_identical(built: Path, encoder_dir: Path, monkeypatch) -> None:
    before = snapshot(built)
    import instr_select.index.build as build_module

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_module, "_write_tables", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        build_index(small_tasks(n_random=5), encoder_dir, built)
    assert snapshot(built) == before
    assert [p.name for p in built.parent.iterdir()] == [built.name]  # no temporary leftovers


def test_factory_override(tmp_path: Path, encoder_dir: Path) -> None:
    path = build_index(small_tasks(), encoder_dir, tmp_path / "hnsw", factory="HNSW16")
    index = InstructionIndex.load(path)
    assert index.manifest.factory == "IDMap2,HNSW16"
    _, ids = index.dense_hits(index.encode_queries([ENTAIL]), 1)
    assert ids[0][0] == 0
    with pytest.raises(ConfigError, match="factory"):
        build_index(small_tasks(), encoder_dir, tmp_path / "bad", factory="NoSuchIndex12")
    with pytest.raises(ConfigError, match="needs at least"):
        build_index(small_tasks(), encoder_dir, tmp_path / "ivf", factory="IVF4096,Flat")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "ivf").exists()


def _edit_manifest(directory: Path, **changes) -> None:
    path = directory / "manifest.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            data[outer][inner] = value
        else:
            data[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 99}, "format version 99"),
        ({"dim": 32}, "32"),
        ({"encoder.files_hash": "0" * 64}, "encoder files do not match"),
    ],
)
def test_load_refuses_mismatches(built: Path, change: dict, message: str) -> None:
    _edit_manifest(built, **change)
    with pytest.raises(DataError, match=message):
        InstructionIndex.load(built)


def test_load_refuses_other_encoder(built: Path, tmp_path: Path) -> None:
    other = save_tiny_model(tmp_path / "other", small_tasks(), seed=1)
    with pytest.raises(DataError, match="index was built with encoder"):
        InstructionIndex.load(built, encoder=other)


def test_load_refuses_missing_or_corrupt(built: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        InstructionIndex.load(tmp_path / "nowhere")
    (built / "faiss.index").write_bytes(b"garbage")
    with pytest.raises(DataError, match="faiss.index: does not match the content hash"):
        InstructionIndex.load(built)  # damage is found at load time, even for a flat index
    index = InstructionIndex.load(built, verify=False)  # unverified, a flat index reads FAISS lazily
    assert index.exact
    with pytest.raises(DataError, match="FAISS"):
        index.faiss_index  # noqa: B018 - reading it (as --add does) reports the damage
    (built / "faiss.index").unlink()
    with pytest.raises(DataError, match="faiss.index: is missing"):
        InstructionIndex.load(built)
    (built / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        InstructionIndex.load(built)


def test_torch_encoder_index_and_in_memory_model(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense
    from test_index_fixtures import tiny_static_model

    texts = [t for task in small_tasks() for t in task.instructions]
    static = tiny_static_model(texts)
    stacked = SentenceTransformer(modules=[static[0], Dense(16, 8)], device="cpu")
    path = build_index(small_tasks(), stacked, tmp_path / "dense")
    index = InstructionIndex.load(path)
    assert index.manifest.encoder["query_path"] == "sentence-transformers" and index.dim == 8
    np.testing.assert_allclose(index.encode_queries([ENTAIL])[0], index.vectors[0], atol=1e-5)
    path = build_index(small_tasks(), static, tmp_path / "static")  # in-memory static model
    index = InstructionIndex.load(path)
    assert index.manifest.encoder["query_path"] == "numpy" and (path / "encoder" / "modules.json").is_file()
    np.testing.assert_allclose(index.encode_queries([ENTAIL])[0], index.vectors[0], atol=1e-5)


def test_exact_numpy_search_equals_flat_faiss(built: Path) -> None:
    import numpy as np

    index = InstructionIndex.load(built)
    queries = index.encode_queries(["answer the question", "translate the sentence", ""])
    scores, ids = index.dense_hits(queries, 5)
    faiss_scores, faiss_ids = index.faiss_index.search(np.ascontiguousarray(queries), 5)
    np.testing.assert_allclose(scores, faiss_scores, rtol=1e-5, atol=1e-6)
    # same instructions up to the order of exact ties
    for row, faiss_row, s in zip(ids, faiss_ids, scores, strict=True):
        assert sorted(row[s > s[-1] + 1e-6]) == sorted(faiss_row[s > s[-1] + 1e-6])
