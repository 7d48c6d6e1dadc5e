"""Checks on a model folder before anything loads it: no pickled weights, whole safetensors files.

Pickle files (``pytorch_model.bin``, ``*.pt``, ``*.pkl``) can run code when loaded, so a folder
that holds weights only in that form is refused without opening them; a safetensors file is
checked against its own header (a truncated copy fails here with its name, not deep in a loader).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from instr_select.errors import ConfigError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
MAX_HEADER = 100 * 1024 * 1024


def check_safetensors(path: Path) -> None:
    """The file's header parses and its tensors fit in the file."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise ValueError("shorter than its header")
            (length,) = struct.unpack("<Q", head)
            if length > min(size - 8, MAX_HEADER):
                raise ValueError("header runs past the end of the file")
            header = json.loads(handle.read(length))
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + length + end > size:
            raise ValueError(f"tensors need {8 + length + end:,} bytes, the file has {size:,}")
    except (ValueError, KeyError, TypeError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not a complete safetensors file ({exc}); copy or save the model again") from None


def check_model_files(folder: str | Path, flag: str = "model") -> None:
    folder = Path(folder)
    files = [p for p in folder.rglob("*") if p.is_file() and "checkpoints" not in p.relative_to(folder).parts]
    tensors = [p for p in files if p.suffix == ".safetensors"]
    pickled = [p for p in files if p.suffix in PICKLE_SUFFIXES and p.name != "training_args.bin"]
    if pickled and not tensors:
        raise ConfigError(
            f"{flag} {folder} holds pickled weights ({pickled[0].name}), which instr-select does not load (pickle can"
            " run code); save the model with safetensors (save_pretrained(..., safe_serialization=True))"
        )
    for path in tensors:
        check_safetensors(path)
