"""Progress goes to stderr only, and one name per idea across the CLI (old spellings still work)."""

from __future__ import annotations

import io
import json
import shlex

import click
import pytest

from instr_select import progress
from instr_select.selection import SelectedTask, Selection


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_and_lines_go_to_stderr_and_respect_quiet(monkeypatch, capsys):
    monkeypatch.delenv(progress.ENV_QUIET, raising=False)
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert progress.enabled()
    for _ in progress.bar(range(3), desc="work"):
        pass
    progress.say()("stage done")
    shown = progress.sys.stderr.getvalue()
    assert "work" in shown and "stage done" in shown and capsys.readouterr().out == ""
    assert not progress.enabled(quiet=True)
    progress.set_quiet(True)
    try:
        assert not progress.enabled() and progress.bar(range(2)).disable
    finally:
        progress.set_quiet(False)
    monkeypatch.setenv(progress.ENV_QUIET, "1")
    assert not progress.enabled()


def test_no_bars_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.delenv(progress.ENV_QUIET, raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not progress.enabled() and progress.bar(range(2)).disable
    progress.say()("still reported")  # stage lines reach a redirected stderr
    assert "still reported" in progress.sys.stderr.getvalue()


def _options(module: str, name: str) -> dict[str, list[str]]:
    import importlib

    command: click.Command = getattr(importlib.import_module(module), name)
    return {p.name: [*p.opts, *p.secondary_opts] for p in command.params if isinstance(p, click.Option)}


@pytest.mark.parametrize(
    ("module", "command", "param", "spellings"),
    [
        ("instr_select.cli.query_command", "query", "method", ["--method", "--retriever"]),
        ("instr_select.cli.query_command", "query", "save", ["--out", "--save"]),
        ("instr_select.cli.export_command", "export", "method", ["--method"]),
        ("instr_select.cli.select_commands", "select", "output", ["--out", "-o", "--output"]),
        ("instr_select.cli.select_commands", "taskmap", "output", ["--out", "-o", "--output"]),
        ("instr_select.cli.default_command", "build_default", "out", ["--out"]),
    ],
)
def test_one_name_per_idea_with_old_spellings(module, command, param, spellings):
    options = _options(module, command)
    assert options[param] == spellings  # the new name first, then the old ones


def test_saved_selection_records_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "sys.argv", ["/somewhere/bin/instr-select", "query", "Classify the sentiment", "--out", "s.json"]
    )
    selection = Selection("retrieval-dense", [SelectedTask(1, "navigate", "bbh", 0.5)], query="q")
    data = json.loads(selection.save(tmp_path / "s.json").read_text())
    assert shlex.split(data["provenance"]["command"]) == [
        "instr-select",
        "query",
        "Classify the sentiment",
        "--out",
        "s.json",
    ]
    assert {"python", "instr-select", "numpy"} <= set(data["provenance"]["versions"])
    assert Selection.load(tmp_path / "s.json").provenance == data["provenance"]
