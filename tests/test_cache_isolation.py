"""The test run never touches the user's caches: every cache it could use lies in its own temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import CACHE_VARIABLES

PROBE = """
import json
import datasets.config, huggingface_hub.constants
from instr_select.paths import cache_dir, default_index_dir
from instr_select.models.cache import cache_root
print(json.dumps([str(datasets.config.HF_DATASETS_CACHE), str(huggingface_hub.constants.HF_HUB_CACHE),
                  str(cache_dir()), str(cache_root()), str(default_index_dir())]))
"""


def _inside(path: str | Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root)


def test_every_cache_variable_points_inside_the_run_folder(run_home: Path) -> None:
    assert not _inside(run_home, Path.home() / ".cache")
    for name in CACHE_VARIABLES:
        assert _inside(os.environ[name], run_home), name
    assert "TRANSFORMERS_CACHE" not in os.environ


def test_libraries_in_this_process_and_in_a_subprocess_use_the_run_folder(run_home: Path) -> None:
    import datasets.config
    import huggingface_hub.constants

    from instr_select.paths import cache_dir, default_index_dir

    here = [datasets.config.HF_DATASETS_CACHE, huggingface_hub.constants.HF_HUB_CACHE, cache_dir(), default_index_dir()]
    assert all(_inside(path, run_home) for path in here), here
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    paths = json.loads(proc.stdout)
    assert all(_inside(path, run_home) for path in paths), paths
