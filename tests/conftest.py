"""Shared fixtures: the real shared data and a CLI runner that reports exit codes like the console script.

The suite never reads or writes the user's caches: before any test module is imported (and so
before ``datasets`` reads its cache path), every cache variable points into one temporary folder
of this run, removed at its end. Subprocesses inherit it. The pretrained models the few real-model
tests need are materialised there from their installed packages, read-only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from instr_select.paths import default_data_dir

REPO = Path(__file__).resolve().parent.parent
RUN_HOME = Path(tempfile.mkdtemp(prefix="instr-select-tests-")).resolve()
CACHE_VARIABLES = {
    "HF_HOME": RUN_HOME / "hf",
    "HF_HUB_CACHE": RUN_HOME / "hf" / "hub",
    "HF_DATASETS_CACHE": RUN_HOME / "hf" / "datasets",
    "HF_MODULES_CACHE": RUN_HOME / "hf" / "modules",
    "SENTENCE_TRANSFORMERS_HOME": RUN_HOME / "sentence-transformers",
    "XDG_CACHE_HOME": RUN_HOME / "xdg",
    "MPLCONFIGDIR": RUN_HOME / "matplotlib",
    "INSTR_SELECT_CACHE": RUN_HOME / "instr-select",
    "INSTR_SELECT_INDEX": RUN_HOME / "instr-select" / "indexes" / "default",
}
os.environ.update({name: str(path) for name, path in CACHE_VARIABLES.items()})
os.environ.pop("TRANSFORMERS_CACHE", None)  # deprecated, but it would win over HF_HOME


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(RUN_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def run_home() -> Path:
    """The temporary folder every cache of this test run lives in."""
    return RUN_HOME


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = default_data_dir()
    assert found is not None, "the shared data must sit at ../shared/data beside the repository"
    return found


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Run ``instr-select`` in a subprocess, exactly as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "instr_select.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=600,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def cli():
    return run_cli
