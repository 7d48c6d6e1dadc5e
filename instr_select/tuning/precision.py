"""Training and scoring precision: ``auto`` (the default), ``bf16`` or ``fp32``.

``bf16`` is mixed precision: the weights stay fp32 (saved models are unchanged) and matrix products
run in bfloat16 under ``torch.autocast``. ``auto`` picks bf16 only where the hardware computes it
natively: a CUDA device that supports bf16, or a CPU with AVX512-BF16 or AMX-BF16. Elsewhere bf16
is emulated and slower than fp32 (a 576 x 1536 matmul took 40 times as long on an AVX2 CPU), so
``auto`` stays fp32; so it does for the tiny test models, whose ops are too small to gain and whose
results stay the same on every machine. Mean NLLs are computed in fp32 from the logits either way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instr_select.errors import ConfigError

if TYPE_CHECKING:
    from instr_select.tuning.modeling import ModelBundle

PRECISIONS = ("auto", "bf16", "fp32")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that compute bf16 natively


def check_precision(name: str, flag: str = "--precision") -> str:
    """``name`` when it is one of :data:`PRECISIONS`, else a one-line :class:`ConfigError`."""
    if name not in PRECISIONS:
        raise ConfigError(f"{flag} must be one of {', '.join(PRECISIONS)}, not {name!r}")
    return name


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16): torch's CPU capabilities,
    else the flags of ``/proc/cpuinfo``."""
    try:
        import torch

        capabilities = torch.cpu.get_capabilities()
        return any(bool(capabilities.get(flag)) for flag in CPU_BF16_FLAGS)
    except (ImportError, AttributeError, RuntimeError):
        pass
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = {word for line in text.splitlines() if line.startswith("flags") for word in line.split()}
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def _device_type(device: Any) -> str:
    if device is None:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(getattr(device, "type", device)).split(":")[0]


def resolve_precision(name: str = "auto", device: Any = None) -> str:
    """``bf16`` or ``fp32`` for ``name`` on ``device`` (a torch device or its type; default: CUDA when
    available, else the CPU)."""
    if check_precision(name) == "fp32":
        return "fp32"
    kind = _device_type(device)
    if kind == "cuda":
        import torch

        supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if name == "bf16" and not supported:
            raise ConfigError("--precision bf16: this GPU does not compute bf16 (use --precision auto or fp32)")
        return "bf16" if supported else "fp32"
    if name == "bf16":
        return "bf16"  # on a CPU without native bf16 it is emulated: slower, but it runs
    return "bf16" if kind == "cpu" and cpu_supports_bf16() else "fp32"


def model_precision(model: str, name: str = "auto") -> str:
    """What ``name`` resolves to on this machine for the base model ``model`` (a name or folder):
    fp32 for ``auto`` on the tiny test models, as :func:`bundle_precision` resolves it."""
    from instr_select.tuning.modeling import TINY_MODELS

    if check_precision(name) == "auto" and model in TINY_MODELS:
        return "fp32"
    return resolve_precision(name)


def budget_fields(budget: dict[str, Any], model: str) -> dict[str, Any]:
    """A budget as run hashes count it: the precision as it resolves here, and fp32 not at all, so a
    run from before ``--precision`` resumes wherever it runs in fp32 and no run mixes bf16 and fp32."""
    fields = {k: v for k, v in budget.items() if k != "precision"}
    resolved = model_precision(model, budget.get("precision", "auto"))
    if resolved != "fp32":
        fields["precision"] = resolved
    return fields


def bundle_precision(bundle: ModelBundle, name: str | None = None) -> str:
    """What ``name`` (default: the bundle's own setting) resolves to for this bundle: ``auto`` is fp32
    for the tiny test models, else :func:`resolve_precision` on the bundle's device."""
    name = check_precision(name if name is not None else bundle.precision)
    if name == "auto" and bundle.info.get("kind") == "tiny":
        return "fp32"
    return resolve_precision(name, bundle.device)


@contextmanager
def autocast(target: ModelBundle | Any, precision: str | None = None) -> Iterator[str]:
    """Run the block under bf16 autocast where ``precision`` resolves to bf16 (nothing otherwise);
    ``target`` is a bundle (its own precision by default) or a device. Yields the resolved precision."""
    from instr_select.tuning.modeling import ModelBundle

    if isinstance(target, ModelBundle):
        resolved, device = bundle_precision(target, precision), target.device
    else:
        resolved, device = resolve_precision(precision or "auto", target), target
    if resolved != "bf16":
        yield resolved
        return
    import torch

    with torch.autocast(device_type=_device_type(device), dtype=torch.bfloat16):
        yield resolved
