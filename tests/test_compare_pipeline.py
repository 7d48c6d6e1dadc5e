"""A miniature comparison end to end, resume, and bad input."""

from __future__ import annotations

import json

import pytest

MINI = [
    "compare",
    "--target-task", "bbh:navigate",
    "--target-task", "niv2:task1344_glue_entailment_classification",
    "--pool", "niv2",
    "--selectors", "random,bm25",
    "--seeds", "1",
    "-k", "2",
    "--examples-per-task", "4",
    "--max-steps", "4",
    "--batch-size", "4",
    "--eval-examples", "6",
    "--model", "tiny-t5",
]  # fmt: skip


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory, data_dir, cli):
    run_cli = cli
    out = tmp_path_factory.mktemp("compare") / "run"
    result = run_cli(*MINI, "--out", str(out), "--data-dir", str(data_dir))
    assert result.code == 0, result.err
    return out, result


def test_mini_comparison_writes_the_report(mini_run):
    out, result = mini_run
    for name in ("report.md", "chart.png", "summary.png", "results.json"):
        assert (out / name).is_file()
    assert (out / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "results.json").read_text())
    cells = data["cells"]
    assert {(c["target"], c["selector"]) for c in cells} == {
        (t, s) for t in ("bbh:navigate", "niv2:task1344_glue_entailment_classification") for s in ("random", "bm25")
    }
    for cell in cells:
        assert len(cell["selection"]) == 2 and len(set(cell["selection"])) == 2
        assert cell["target"] not in cell["selection"]
        assert 0.0 <= cell["score"] <= 100.0
        assert cell["gold_nll"] > 0.0  # the gold answer's mean token NLL under the tuned model
    nav = next(c for c in cells if c["target"] == "bbh:navigate")
    assert nav["metric"] == "mc_accuracy"  # BBH navigate has Yes/No options
    assert "| bbh:navigate |" in result.out and "mean over targets" in result.out
    assert set(data["summary"]["overlap"]) == {"random~bm25"}
    glue = next(c for c in cells if c["target"].startswith("niv2:"))
    assert glue["metric"] == "mc_accuracy"  # NIV2 labels 0/1 ranked as options
    assert glue["report"]["metrics"]["mc_options"] == "labels"
    # bm25 paired against random on both targets: a difference per target for score and NLL
    paired = data["summary"]["paired"]["bm25"]
    assert set(paired) == {"score", "gold_nll"}
    assert paired["score"]["targets"] == 2 and len(paired["score"]["ci95"]) == 2
    by = {(c["target"], c["selector"]): c for c in cells}
    expected = sum(by[t, "bm25"]["gold_nll"] - by[t, "random"]["gold_nll"] for t in {c["target"] for c in cells}) / 2
    assert paired["gold_nll"]["mean"] == pytest.approx(expected)
    assert "Paired difference against `random`" in result.out
    # random trains once for both targets; bm25 once per distinct selection
    compute = data["summary"]["compute_seconds"]
    distinct = {(c["seed"], c["selector"], tuple(sorted(c["selection"]))) for c in cells}
    assert compute["trainings"] == len(distinct) < len(cells)  # random shares one
    assert compute["training"] == pytest.approx(
        sum({(c["seed"], c["selector"], tuple(sorted(c["selection"]))): c["train_seconds"] for c in cells}.values())
    )
    assert compute["evaluation"] > 0 and "Compute recorded in the cells" in (out / "report.md").read_text()


def test_leakage_guard_keeps_same_source_out(mini_run, data_dir):
    from instr_select.loaders import load_source

    out, _ = mini_run
    niv2 = load_source("niv2", data_dir=data_dir)
    target = niv2.get("task1344_glue_entailment_classification")
    cells = json.loads((out / "results.json").read_text())["cells"]
    for cell in cells:
        if cell["target"] == target.key:
            assert all(niv2.get(key).source_key != target.source_key for key in cell["selection"])


def test_rerun_resumes_and_reproduces(mini_run, data_dir, cli):
    run_cli = cli
    out, _ = mini_run
    cells = sorted((out / "cells").rglob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in cells}
    first = json.loads((out / "results.json").read_text())["cells"]
    result = run_cli(*MINI, "--out", str(out), "--data-dir", str(data_dir))
    assert result.code == 0, result.err
    assert {p: p.stat().st_mtime_ns for p in cells} == before  # nothing retrained
    again = json.loads((out / "results.json").read_text())["cells"]
    assert [c["selection"] for c in again] == [c["selection"] for c in first]
    # a fresh run with the same seed reproduces the random selection
    fresh = out.parent / "fresh"
    args = [a if a != "random,bm25" else "random" for a in MINI]
    assert run_cli(*args, "--out", str(fresh), "--data-dir", str(data_dir)).code == 0
    redo = json.loads((fresh / "results.json").read_text())["cells"]
    assert [c["selection"] for c in redo] == [c["selection"] for c in first if c["selector"] == "random"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("--selectors", "random,oracle"), "unknown selector 'oracle'"),
        (("--target-task", "bbh:no_such_task"), "no task 'no_such_task'"),
        (("-k", "500"), "larger than the pool"),
        (("--seeds", "0"), "--seeds must be a positive"),
        (("--max-steps", "1000"), "cannot fit"),
    ],
)
def test_bad_input(cli, tmp_path, data_dir, change, fragment):
    args = list(MINI)
    flag, value = change
    if flag == "--target-task":
        args += [flag, value]
    else:
        args[args.index(flag) + 1] = value
    result = cli(*args, "--out", str(tmp_path / "run"), "--data-dir", str(data_dir))
    assert result.code == 2, result.err
    assert fragment in result.err and "Traceback" not in result.err


def test_report_only_rebuilds_from_finished_cells(mini_run, cli, tmp_path):
    out, _ = mini_run
    (out / "report.md").unlink()
    result = cli("compare", "--report-only", "--out", str(out))
    assert result.code == 0, result.err
    assert (out / "report.md").is_file() and "| bbh:navigate |" in result.out
    empty = cli("compare", "--report-only", "--out", str(tmp_path / "nothing"))
    assert empty.code == 2 and "no comparison run here" in empty.err and "Traceback" not in empty.err
