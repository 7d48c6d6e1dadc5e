"""The active tuning loop end to end on a tiny pool with the tiny model: curve, resume, settings guard."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from instr_select.cli.main import cli
from instr_select.selection import Selection
from instr_select.tasks import Example, Task, TaskCollection
from instr_select.uncertainty.active import split_pool


def write_pool(path: Path, tasks: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    return path


def rows(n: int) -> list[dict]:
    return [
        {
            "task_id": f"task{i}",
            "source": f"src{i // 2}",  # pairs of tasks share a source
            "instruction": f"Repeat the word number {i} twice",
            "examples": [{"input": f"w{i}{k}", "output": f"w{i}{k} w{i}{k}"} for k in range(3)],
        }
        for i in range(n)
    ]


def test_split_pool_removes_held_out_sources() -> None:
    tasks = TaskCollection(
        Task(f"t{i}", "m", ["do it"], source=f"s{i // 2}", _examples=[Example("a", "b")]) for i in range(8)
    )
    train, held = split_pool(tasks, 2, seed=3)
    assert len(held) == 2
    held_sources = {t.source_key for t in held}
    assert all(t.source_key not in held_sources for t in train)
    assert len(train) == 8 - 2 * len(held_sources)
    assert split_pool(tasks, 2, seed=3)[1].counts()["tasks"] == 2
    assert [t.key for t in split_pool(tasks, 2, seed=3)[1]] == [t.key for t in held]


def test_active_loop_runs_resumes_and_guards_settings(tmp_path) -> None:
    source = write_pool(tmp_path / "pool.jsonl", rows(8))
    out = tmp_path / "run"
    args = ["active", "--pool", f"jsonl={source}", "--model", "tiny-t5", "--out", str(out), "--iterations", "3"]
    args += ["--per-iteration", "1", "--held-out", "1", "--selectors", "uncertainty,random", "--epochs", "1"]
    args += ["--n-instances", "2", "--perturbations", "2", "--max-new-tokens", "4", "--quiet", "--eval-examples", "3"]
    runner = CliRunner()
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    curve = json.loads((out / "learning_curve.json").read_text())
    assert set(curve["curves"]) == {"uncertainty", "random"}
    for points in curve["curves"].values():
        assert [p["n_tasks"] for p in points] == [1, 2, 3]
        assert all(isinstance(p["score"], float) for p in points)
    # iteration 0 is shared; later iterations add distinct pool tasks, never a held-out one or its source
    first = curve["curves"]["uncertainty"][0]["added"]
    assert curve["curves"]["random"][0]["added"] == first
    held = set(curve["held_out"])
    for selector in ("uncertainty", "random"):
        state = json.loads((out / selector / "iter_02" / "state.json").read_text())
        assert len(set(state["tasks"])) == 3 and not held & set(state["tasks"])
        selection = Selection.load(out / selector / "iter_02" / "selection.json")
        assert selection.selector == selector and selection.params["iteration"] == 2
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    # the uncertainty selection picked the highest-PU remaining task of its previous model
    sel = Selection.load(out / "uncertainty" / "iter_01" / "selection.json")
    assert sel.tasks[0].score >= 0 and sel.params["score"] == "pu"
    # a rerun resumes: every (selector, iteration) is done and nothing is retrained
    again = runner.invoke(cli, args, catch_exceptions=False)
    assert again.exit_code == 0 and again.output.count("done before") == 5
    # other settings in the same folder are refused
    changed = runner.invoke(cli, [*args[:-1], "4"])
    assert changed.exit_code != 0 and "other settings" in str(changed.exception)
