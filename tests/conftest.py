"""Shared fixtures: the real shared data and a CLI runner that reports exit codes like the console script."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from instr_select.paths import default_data_dir

REPO = Path(__file__).resolve().parent.parent


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
