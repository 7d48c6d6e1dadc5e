"""export -> tune -> evaluate through the CLI on the shared data, and bad input (exit 2, one line)."""

from __future__ import annotations

import json

import pytest

from instr_select.cli.main import main
from instr_select.tuning.mixture import load_mixture

POOL = ["bigbench:navigate", "bigbench:logical_deduction/three_objects"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process exactly as the console script does (errors: exit code 2)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, data_dir):
    import contextlib
    import io

    root = tmp_path_factory.mktemp("e2e")
    (root / "tasks.txt").write_text("\n".join(POOL) + "\n")
    steps = [
        ["export", "--tasks", str(root / "tasks.txt"), "--out", str(root / "mix"), "--max-per-task", "6",
         "--format", "alpaca", "--format", "hf", "--data-dir", str(data_dir)],
        ["tune", str(root / "mix"), "--model", "tiny-t5", "--out", str(root / "model"), "--max-steps", "4",
         "--batch-size", "4", "--quiet"],
        ["evaluate", "--model", str(root / "model"), "--target", "bbh:navigate", "--max-examples", "6",
         "--out", str(root / "report.json"), "--data-dir", str(data_dir)],
    ]  # fmt: skip
    outputs = []
    for argv in steps:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            main(argv)
        outputs.append(buffer.getvalue())
    return root, outputs


def test_export_writes_mixture(pipeline):
    root, outputs = pipeline
    mix = load_mixture(root / "mix")
    assert {r["task_id"] for r in mix.records} == {"navigate", "logical_deduction/three_objects"}
    assert len(mix.records) == 12 and mix.manifest["config"]["max_per_task"] == 6
    assert (root / "mix" / "alpaca.jsonl").is_file() and (root / "mix" / "hf").is_dir()
    assert not (root / "mix" / "messages.jsonl").exists()
    assert "wrote 12 examples from 2 tasks" in outputs[0]


def test_tune_records_provenance(pipeline):
    root, _ = pipeline
    info = json.loads((root / "model" / "training_info.json").read_text())
    manifest = json.loads((root / "mix" / "mixture.json").read_text())
    assert info["mixture_hash"] == manifest["mixture_hash"]
    assert info["base_model"] == "tiny-t5" and info["model_kind"] == "tiny" and info["steps"] == 4
    assert "tune" in info["command"] or info["command"]


def test_evaluate_report(pipeline):
    root, outputs = pipeline
    report = json.loads((root / "report.json").read_text())
    assert report["target"] == "bbh:navigate" and report["examples"] == 6
    assert report["metrics"]["mc_examples"] == 6 and report["metrics"]["mc_accuracy"] is not None
    assert "bbh:navigate: 6 examples" in outputs[2]
    assert report["model_path_resolved"] == str((root / "model").resolve())


def test_bad_input_exits_2_with_one_line(pipeline, tmp_path, capsys, data_dir):
    root, _ = pipeline
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    old = tmp_path / "old_mix"
    old.mkdir()
    (old / "mixture.json").write_text(json.dumps({"format": 0}))
    (old / "records.jsonl").write_text("{}\n")
    cases = [
        (["export", "--tasks", str(root / "tasks_missing.txt"), "--out", str(tmp_path / "m1")], "does not exist"),
        (["export", "--tasks", str(empty), "--out", str(tmp_path / "m2")], "selection is empty"),
        (["export", "--tasks", str(root / "tasks.txt"), "--out", str(tmp_path / "m3"), "--max-per-task", "0"], "max-per-task"),
        (["export", "--out", str(tmp_path / "m4")], "exactly one of"),
        (["tune", str(old), "--out", str(tmp_path / "t1")], "mixture format 0"),
        (["tune", str(tmp_path), "--out", str(tmp_path / "t2")], "mixture.json"),
        (["tune", str(root / "mix"), "--model", "nobody/unknown-model", "--out", str(tmp_path / "t3")], "hub is unreachable"),
        (["evaluate", "--model", str(root / "model"), "--target", "bigbench:abstract_narrative_understanding",
          "--data-dir", str(data_dir)], "no examples"),
        (["evaluate", "--model", str(root / "model"), "--target", "bbh:no_such_task", "--data-dir", str(data_dir)], "no task"),
        (["evaluate", "--model", str(tmp_path / "nomodel"), "--target", "bbh:navigate"], "does not exist"),
    ]  # fmt: skip
    for argv, message in cases:
        code, _, err = run(argv, capsys)
        assert code == 2, (argv, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("error: ") and message in lines[-1], (argv, err)
        assert "Traceback" not in err
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["empty.txt", "old_mix"], leftovers  # nothing half-written


@pytest.fixture()
def toy_mixture(tmp_path):
    """A three-record mixture exported from a JSONL source (no shared data needed)."""
    from instr_select.loaders import load_source
    from instr_select.tuning.mixture import MixtureConfig, build_records, save_mixture

    source = tmp_path / "tasks.jsonl"
    rows = [{"task_id": f"t{i}", "instruction": f"Answer question {i}.", "examples": [{"input": "q", "output": "a"}]}
            for i in range(3)]  # fmt: skip
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return save_mixture(build_records(load_source("jsonl", path=source), MixtureConfig()), tmp_path / "mix")


def test_one_step_tune_prints_no_none(toy_mixture, tmp_path, capsys):
    """One step logs no loss (logging every 10 steps): the line says what was measured, never 'None'."""
    argv = ["tune", str(toy_mixture), "--model", "tiny-t5", "--out", str(tmp_path / "model"), "--max-steps", "1",
            "--batch-size", "1", "--quiet"]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("trained ")]
    assert "None" not in line, line
    assert "1 steps" in line and "mean loss " in line, line


def test_unknown_mixture_format_is_refused_before_any_model_loads(toy_mixture, tmp_path, capsys, monkeypatch):
    """Without --model, an unknown format would start a full SmolLM2 run: it is refused first, naming it."""
    import instr_select.tuning.modeling as modeling

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded for a mixture of an unknown format")

    monkeypatch.setattr(modeling, "load_model", no_model)
    manifest = json.loads((toy_mixture / "mixture.json").read_text())
    for found in (3, 2.0, "2"):
        (toy_mixture / "mixture.json").write_text(json.dumps({**manifest, "format": found}))
        code, _, err = run(["tune", str(toy_mixture), "--out", str(tmp_path / "model")], capsys)
        assert code == 2 and "Traceback" not in err, err
        assert f"mixture.json: mixture format {found!r} is unknown" in err, err
