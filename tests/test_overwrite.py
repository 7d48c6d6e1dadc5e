"""``--overwrite``: an existing folder instr-select did not write is replaced only when asked.

Without the flag such a folder is refused (the corpus checks that case for every command); with it,
each command replaces the folder by its artefact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_index_fixtures import save_tiny_model, small_tasks

from instr_select.atomic import atomic_directory, check_replaceable, overwrite_allowed
from instr_select.cli.main import main
from instr_select.errors import ConfigError


def foreign(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("years of work")
    (folder / "notes").mkdir()
    (folder / "notes" / "a.txt").write_text("a")
    return folder


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("overwrite")
    tasks = root / "tasks.jsonl"
    rows = [
        {"task_id": f"t{i}", "instructions": [f"Answer question {i} now.", f"Reply to query {i} please."],
         "examples": [{"input": f"q{i}", "output": f"a{i}"}]}
        for i in range(6)
    ]  # fmt: skip
    tasks.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    (root / "sel.txt").write_text("bbh:navigate\n")
    return {"tasks": tasks, "encoder": save_tiny_model(root / "enc", small_tasks()), "sel": root / "sel.txt"}


def commands(inputs: dict[str, Path], tmp: Path, data_dir: Path) -> dict[str, tuple[list[str], str]]:
    """command -> (argv without --out, the marker file its artefact holds)."""
    mix = tmp / "mix-for-tune"
    return {
        "build-index": (["build-index", f"jsonl={inputs['tasks']}", "--encoder", str(inputs["encoder"])], "manifest.json"),
        "train-encoder": (["train-encoder", f"jsonl={inputs['tasks']}", "--epochs", "1", "--dim", "16",
                           "--vocab-size", "200"], "training_info.json"),
        "export": (["export", "--tasks", str(inputs["sel"]), "--data-dir", str(data_dir), "--max-per-task", "4",
                    "--format", "messages"], "mixture.json"),
        "tune": (["tune", str(mix), "--model", "tiny-t5", "--max-steps", "1", "--quiet"], "instr_select_model.json"),
    }  # fmt: skip


@pytest.mark.parametrize("command", ["build-index", "train-encoder", "export", "tune"])
def test_overwrite_replaces_a_foreign_folder(command: str, inputs, data_dir: Path, tmp_path: Path, capsys) -> None:
    argv, marker = commands(inputs, tmp_path, data_dir)[command]
    if command == "tune":
        export = commands(inputs, tmp_path, data_dir)["export"][0]
        assert run([*export, "--out", str(tmp_path / "mix-for-tune")], capsys)[0] == 0
    out = foreign(tmp_path / "mine")
    code, err = run([*argv, "--out", str(out)], capsys)
    assert code == 2 and "--overwrite" in err and (out / "thesis.tex").is_file(), err  # the default: refused
    code, err = run([*argv, "--out", str(out), "--overwrite"], capsys)
    assert code == 0, err
    assert (out / marker).is_file() and not (out / "thesis.tex").exists() and not (out / "notes").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine.")], "leftovers beside --out"


def test_overwrite_is_offered_only_where_a_folder_is_written(capsys) -> None:
    for command in ("build-index", "train-encoder", "export", "tune"):
        code, out = run_out([command, "--help"], capsys)
        assert code == 0 and "--overwrite" in out, command
    code, err = run(["query", "x", "--overwrite"], capsys)
    assert code == 2 and "--overwrite" in err  # no such option: query writes no folder


def run_out(argv: list[str], capsys) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().out


def test_api_overwrite_allowed(tmp_path: Path) -> None:
    out = foreign(tmp_path / "mine")
    with pytest.raises(ConfigError, match="pass --overwrite"), atomic_directory(out):
        pass
    assert check_replaceable(out, overwrite=True) == out
    with overwrite_allowed(out), atomic_directory(out) as tmp:
        (tmp / "results.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]
    other = foreign(tmp_path / "other")  # allowing one folder allows no other
    with overwrite_allowed(out), pytest.raises(ConfigError, match="not written by instr-select"):
        check_replaceable(other)
    (tmp_path / "file").write_text("x")  # a file is still not a folder, even with overwrite
    with pytest.raises(ConfigError, match="not a folder"):
        check_replaceable(tmp_path / "file", overwrite=True)
