"""Bad input: one line naming the file and the fix, exit code 2, no traceback; --lenient skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instr_select.errors import DataError
from instr_select.loaders import LoadReport, load_source


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


GOOD = {
    "task_id": "a",
    "instruction": "Classify the sentiment.",
    "examples": [{"input": "great", "output": "positive"}],
}


def test_user_jsonl_format_loads(tmp_path):
    path = write_jsonl(
        tmp_path / "tasks.jsonl", [GOOD, {"task_id": "b", "instructions": ["One.", "Two."], "source": "x"}]
    )
    tasks = load_source("jsonl", path=path)
    assert [t.key for t in tasks] == ["jsonl:a", "jsonl:b"]
    assert tasks.get("jsonl:a").examples[0].output == "positive"
    assert tasks.get("b").instructions == ["One.", "Two."]


@pytest.mark.parametrize(
    ("rows", "fragments"),
    [
        ([GOOD, "{not json"], ["tasks.jsonl, line 2", "malformed JSON"]),
        ([{"instruction": "x"}], ["line 1", "missing required field 'task_id'"]),
        ([{"task_id": "a"}], ["line 1", "'instruction'"]),
        ([{"task_id": "a", "instruction": "   "}], ["line 1", "empty instruction"]),
        ([GOOD, GOOD], ["line 2", "duplicate task_id 'a'"]),
        ([{"task_id": "a", "instruction": "x", "examples": [{"input": "q"}]}], ["line 1", "needs 'output'"]),
    ],
)
def test_jsonl_errors(cli, tmp_path, rows, fragments):
    path = write_jsonl(tmp_path / "tasks.jsonl", rows)
    assert_one_line_error(cli("inspect", "jsonl", str(path)), "tasks.jsonl", *fragments)


def test_not_utf8(cli, tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"task_id": "b", "instruction": "caf\xe9"}'.encode("latin-1"))
    assert_one_line_error(cli("inspect", "jsonl", str(path)), "tasks.jsonl", "not UTF-8", "re-encode")


def test_missing_path(cli, tmp_path):
    assert_one_line_error(cli("inspect", "jsonl", str(tmp_path / "absent.jsonl")), "absent.jsonl", "does not exist")


def test_unknown_source_and_option(cli, tmp_path):
    assert_one_line_error(cli("inspect", "nope"), "unknown source 'nope'", "niv2")
    assert_one_line_error(cli("inspect", "niv2", "-o", "colour=red"), "no option 'colour'", "english_only")


def test_malformed_yaml(cli, tmp_path):
    folder = tmp_path / "templates" / "mydata"
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_text("dataset: mydata\ntemplates:\n  a: !Template\n    jinja: [unclosed\n")
    assert_one_line_error(cli("inspect", "promptsource", str(tmp_path)), "templates.yaml", "malformed YAML")


def test_promptsource_missing_templates_field(cli, tmp_path):
    folder = tmp_path / "templates" / "mydata"
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_text("dataset: mydata\n")
    assert_one_line_error(cli("inspect", "promptsource", str(tmp_path)), "templates.yaml", "'templates'")


def test_malformed_json_task_file(cli, tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "task001_x_y.json").write_text('{"Definition": ["Do it."],\n "Instances": [}')
    assert_one_line_error(cli("inspect", "niv2", str(tmp_path)), "task001_x_y.json, line 2", "malformed JSON")


def test_niv2_missing_definition(cli, tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "task001_x_y.json").write_text(json.dumps({"Instances": []}))
    assert_one_line_error(cli("inspect", "niv2", str(tmp_path)), "task001_x_y.json", "'Definition'")


def test_bbh_bad_prompt_file(cli, tmp_path):
    (tmp_path / "bbh").mkdir()
    (tmp_path / "cot-prompts").mkdir()
    (tmp_path / "bbh" / "t.json").write_text(json.dumps({"examples": [{"input": "q", "target": "a"}]}))
    (tmp_path / "cot-prompts" / "t.txt").write_text("canary\nno separator\n")
    assert_one_line_error(cli("inspect", "bbh", str(tmp_path)), "t.txt", "-----")


def test_bigbench_duplicate_and_empty(tmp_path):
    write_jsonl(tmp_path / "bigbench_tasks.jsonl", [{"name": "a", "description": "d", "examples": []}] * 2)
    with pytest.raises(DataError, match="duplicate task id 'bigbench:a'"):
        load_source("bigbench", path=tmp_path)


def test_lenient_skips_and_reports(cli, tmp_path):
    rows = [GOOD, {"task_id": "b", "instruction": ""}, "{oops", {"task_id": "c", "instruction": "Fine."}, GOOD]
    path = write_jsonl(tmp_path / "tasks.jsonl", rows)
    # a malformed line is a file-level error even in lenient mode: the file cannot be read past it
    assert cli("inspect", "jsonl", str(path), "--lenient").code == 2
    rows.remove("{oops")
    path = write_jsonl(tmp_path / "tasks.jsonl", rows)
    report = LoadReport(lenient=True)
    tasks = load_source("jsonl", path=path, report=report)
    assert [t.task_id for t in tasks] == ["a", "c"]
    assert len(report.skipped) == 2
    assert "empty instruction" in report.skipped[0] and "duplicate task_id 'a'" in report.skipped[1]
    result = cli("inspect", "jsonl", str(path), "--lenient", "--json")
    assert result.code == 0
    out = json.loads(result.out)
    assert out["tasks"] == 2 and out["skipped"] == 2 and len(out["skipped_reasons"]) == 2


def test_help_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys; from instr_select.cli.main import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'datasets') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Commands:" in out and "query" in out
    assert out.strip().splitlines()[-1] == "HEAVY="


@pytest.mark.parametrize(
    ("jinja", "expected"),
    [
        ("{{ cycler.__init__.__globals__.os.system('true') }} ||| x", ("refused by the Jinja sandbox", "its row's")),
        ("{{ premise ||| x", ("not valid Jinja", "fix the template")),
    ],
)
def test_promptsource_render_error_names_the_file(tmp_path, monkeypatch, jinja, expected):
    """A template that fails on a real (local) dataset row names its templates.yaml and its id."""
    folder = tmp_path / "ps" / "templates" / "d"
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_text(
        "templates:\n  abc: !Template\n    id: abc\n    jinja: " + json.dumps(jinja) + "\n", encoding="utf-8"
    )
    (tmp_path / "d").mkdir()  # the dataset "d", read by datasets.load_dataset from the working folder
    write_jsonl(tmp_path / "d" / "train.jsonl", [{"premise": "p", "label": 0}] * 3)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    task = load_source("promptsource", path=tmp_path / "ps", render_examples=2)[0]
    with pytest.raises(DataError) as caught:
        list(task.examples)
    message = str(caught.value)
    for fragment in (str(folder / "templates.yaml"), "template abc: 'jinja'", *expected):
        assert fragment in message, message
