"""Offline by default, for the command line and the Python API alike.

The hub is used only where ``HF_HUB_OFFLINE=0`` (or false/no) is set explicitly. Every entry point
that may load a model or a dataset calls ``ensure_offline()`` before it imports the library; the
libraries read their switch once, at import, so one already imported is switched here as well.
"""

from __future__ import annotations

import os
import sys

OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_allowed() -> bool:
    """True only where ``HF_HUB_OFFLINE=0`` (or false/no) is set explicitly."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() in ("0", "false", "no")


def ensure_offline() -> None:
    """Set every library's offline switch, unless the hub is allowed explicitly; cheap to call again."""
    if hub_allowed():
        return
    for name in OFFLINE_SWITCHES:
        os.environ[name] = "1"
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:  # read by huggingface_hub.is_offline_mode(), which transformers asks
        hub_constants.HF_HUB_OFFLINE = True
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True
        datasets_config.HF_DATASETS_OFFLINE = True
