"""Installed as a wheel outside the clone, the package needs nothing of the repository layout.

Builds the wheel from a copy of the sources, installs it (no dependencies) into a fresh venv that
sees this interpreter's packages, and runs it from an unrelated folder: the packaged recipe is
readable, ``build-default`` writes the default index under ``INSTR_SELECT_CACHE`` from a data
folder given on the command line, and ``query``/``query()`` use it without ``--index``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOPICS = ["sentiment", "translation", "arithmetic", "dates", "colors", "summaries", "grammar", "capitals"]


def _tiny_tasks(path: Path) -> None:
    """Eight sources of three tasks each, worded alike within a source (positives for alignment)."""
    lines = []
    for topic in TOPICS:
        for i, verb in enumerate(["Decide", "Work out", "Determine"]):
            lines.append(
                {
                    "task_id": f"{topic}_{i}",
                    "source": topic,
                    "instruction": f"{verb} the {topic} of the given text, {topic} task number {i}.",
                    "examples": [{"input": f"text {j} about {topic}", "output": f"{topic} {j}"} for j in range(2)],
                }
            )
    path.write_text("\n".join(json.dumps(row) for row in lines) + "\n", encoding="utf-8")


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_installs_and_builds_the_default_index_outside_the_clone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "instr_select", src / "instr_select", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INSTR_SELECT_DATA", "INSTR_SELECT_INDEX")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", INSTR_SELECT_CACHE=str(tmp_path / "cache"))
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)], env, tmp_path)
    (wheel,) = wheels.glob("instr_select-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env, tmp_path
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co. of this interpreter
    _run([*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)], env, tmp_path)

    work = tmp_path / "elsewhere"
    work.mkdir()
    check = (
        "import instr_select, json; from instr_select.index.default import read_recipe;"
        "from instr_select.paths import default_index_dir, default_data_dir;"
        "print(json.dumps([instr_select.__file__, read_recipe()[0]['sources'], str(default_index_dir()),"
        " default_data_dir()]))"
    )
    location, sources, index_dir, data_dir = json.loads(_run([str(python), "-c", check], env, work).stdout)
    assert str(site) in location  # the installed copy, not the clone
    assert sources and index_dir == str(tmp_path / "cache" / "indexes" / "default") and data_dir is None

    data = tmp_path / "data"
    data.mkdir()
    _tiny_tasks(data / "tasks.jsonl")
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps(
            {
                "recipe_format": 1,
                "sources": [f"jsonl={data / 'tasks.jsonl'}"],
                "encoder": {"architecture": "static", "vocab_size": 200, "dim": 16, "pre_tokenizer": "bert"},
                "alignment": {"recipe": "mnrl", "epochs": 1, "batch_size": 8, "seed": 0, "dev_fraction": 0.25},
                "factory": None,
            }
        )
    )
    cli = str(venv / "bin" / "instr-select")
    built = _run([cli, "build-default", "--data-dir", str(data), "--recipe", str(recipe)], env, work)
    assert "indexed 24 instructions of 24 tasks" in built.stdout
    assert (Path(index_dir) / "manifest.json").is_file()
    again = _run([cli, "build-default", "--data-dir", str(data), "--recipe", str(recipe)], env, work)
    assert "up to date" in again.stdout

    found = _run([cli, "query", "Work out the sentiment of this review.", "-k", "3", "--json"], env, work)
    record = json.loads(found.stdout)
    assert len(record["tasks"]) == 3 and all(t["meta_dataset"] == "jsonl" for t in record["tasks"])
    batch = _run(
        [str(python), "-c", "from instr_select.retrieval import query; print(len(query(['dates', 'colors'], k=2)))"],
        env,
        work,
    )
    assert batch.stdout.strip() == "2"


@pytest.mark.parametrize("checkout", [True, False])
def test_default_index_follows_the_environment(monkeypatch, tmp_path, checkout):
    """INSTR_SELECT_INDEX first; then indexes/default in a checkout, the per-user cache in a wheel install."""
    import instr_select.paths as paths

    monkeypatch.setattr(paths, "is_source_checkout", lambda: checkout)
    monkeypatch.setenv("INSTR_SELECT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("INSTR_SELECT_INDEX", str(tmp_path / "chosen"))
    assert paths.default_index_dir() == tmp_path / "chosen"
    monkeypatch.delenv("INSTR_SELECT_INDEX")
    expected = REPO / "indexes" / "default" if checkout else tmp_path / "cache" / "indexes" / "default"
    assert paths.default_index_dir() == expected


def test_the_checkouts_default_recipe_is_the_packaged_one():
    """indexes/default.json names the one recipe file the package ships (no second copy to drift)."""
    from instr_select.index.default import DEFAULT_RECIPE, RECIPE_PACKAGE, read_recipe

    shown = REPO / "indexes" / "default.json"
    assert shown.is_symlink() and shown.resolve() == (REPO / RECIPE_PACKAGE.replace(".", "/") / DEFAULT_RECIPE)
    assert json.loads(shown.read_text()) == read_recipe()[0]
