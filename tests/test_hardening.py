"""Guarantees beyond one-line errors: sandboxed templates, crash-safe replace, one writer per
output, byte-identical builds, file permissions, no network when offline, and property-based
checks of the JSONL loader and the queries file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_index_fixtures import save_tiny_model, small_tasks

from instr_select.errors import ConfigError, DataError, InstrSelectError

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def python(code: str, *args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 300):
    full_env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{TESTS}", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def cli(*args, env: dict | None = None, cwd: Path | None = None, timeout: int = 300):
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "instr_select.cli", *args],
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_tasks(path: Path, n: int = 12) -> Path:
    words = ["long", "short", "odd", "even", "green", "blue", "red"]
    rows = [
        {"task_id": f"t{i}", "instruction": f"Answer question {i} about the {words[i % 7]} passage."} for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    from instr_select.index import build_index

    root = tmp_path_factory.mktemp("hardening")
    return build_index(small_tasks(), save_tiny_model(root / "enc", small_tasks()), root / "index")


# ---- templates ---------------------------------------------------------------------------------


def test_template_sandbox_refuses_code(tmp_path: Path) -> None:
    from instr_select.loaders.promptsource import render_template

    assert render_template("{{a}} ||| {{b}}", "x ||| y", {"a": "1", "b": "2"}).options == ("x", "y")
    marker = tmp_path / "pwned"
    attacks = [
        f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}} ||| x",
        f"{{{{ ''.__class__.__mro__[1].__subclasses__() }}}} ||| {marker}",
        "{{ joiner.__init__.__globals__ }} ||| x",
        "{% set x = [].append(1) %}{{ x }} ||| y",
    ]
    for attack in attacks:
        with pytest.raises(DataError, match="sandbox"):
            render_template(attack, None, {})
    assert not marker.exists()


# ---- crash safety --------------------------------------------------------------------------------

KILL_AT_SECOND_RENAME = """
import os, signal, sys
from pathlib import Path
import instr_select.atomic as atomic
from instr_select.index import build_index
from test_index_fixtures import save_tiny_model, small_tasks

out = Path(sys.argv[1])
atomic.exchange = lambda a, b: False  # the two-rename path (systems without renameat2)
real_replace = os.replace

def replace(src, dst, *a, **k):
    if ".tmp-" in str(src) and Path(dst) == out:  # the new copy is about to move in: stop here
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *a, **k)

os.replace = replace
build_index(small_tasks(n_random=5), save_tiny_model(out.parent / "enc2", small_tasks(n_random=5)), out)
"""

KILL_AFTER_EXCHANGE = """
import os, shutil, signal, sys
from pathlib import Path
from instr_select.index import build_index
from test_index_fixtures import save_tiny_model, small_tasks

out = Path(sys.argv[1])
real_rmtree = shutil.rmtree

def rmtree(path, *a, **k):
    if ".tmp-" in str(path):  # after the swap, before the old copy is removed
        os.kill(os.getpid(), signal.SIGKILL)
    return real_rmtree(path, *a, **k)

shutil.rmtree = rmtree
build_index(small_tasks(n_random=5), save_tiny_model(out.parent / "enc2", small_tasks(n_random=5)), out)
"""


def test_kill_between_the_two_renames_is_restored(index_dir: Path, tmp_path: Path) -> None:
    import shutil

    from instr_select.index import InstructionIndex, build_index

    out = Path(shutil.copytree(index_dir, tmp_path / "index"))
    before = snapshot(out)
    proc = python(KILL_AT_SECOND_RENAME, str(out))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not out.exists()  # the old copy is only moved aside at this instant
    assert any(p.name.startswith(".index.old-") for p in tmp_path.iterdir())
    index = InstructionIndex.load(out)  # the next run puts it back
    assert snapshot(out) == before and len(index) > 0
    build_index(small_tasks(), save_tiny_model(tmp_path / "enc3", small_tasks()), out)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".index.")]
    assert leftovers == [], leftovers  # the next write removes what the killed run left


def test_kill_after_the_exchange_leaves_the_new_index(index_dir: Path, tmp_path: Path) -> None:
    import shutil

    from instr_select.atomic import exchange
    from instr_select.index import InstructionIndex

    out = Path(shutil.copytree(index_dir, tmp_path / "index"))
    probe_a, probe_b = tmp_path / "a", tmp_path / "b"
    probe_a.mkdir(), probe_b.mkdir()
    if not exchange(probe_a, probe_b):
        pytest.fail("this system has no renameat2 exchange; the two-rename path is tested above")
    proc = python(KILL_AFTER_EXCHANGE, str(out))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    index = InstructionIndex.load(out)  # at every instant --out is a whole index: here the new one
    assert len(index) == sum(len(t.instructions) for t in small_tasks(n_random=5))


def test_stale_leftovers_are_removed_on_the_next_run(index_dir: Path, tmp_path: Path) -> None:
    import shutil

    from instr_select.index import build_index

    out = Path(shutil.copytree(index_dir, tmp_path / "index"))
    (tmp_path / ".index.tmp-abc123").mkdir()
    (tmp_path / ".index.tmp-abc123" / "vectors.npy").write_bytes(b"x" * 1000)
    (tmp_path / ".index.work-xyz" / "checkpoints").mkdir(parents=True)
    (tmp_path / ".index.k3j2h1g0" / "checkpoints" / "checkpoint-4").mkdir(parents=True)  # older scratch name
    (tmp_path / ".other.tmp-keep").mkdir()  # another output's leftovers are not ours to remove
    build_index(small_tasks(), save_tiny_model(tmp_path / "enc", small_tasks()), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-keep", "enc", "index"]


# ---- ownership: only the tool's own folders are replaced -----------------------------------------


def test_foreign_folders_are_never_replaced(tmp_path: Path) -> None:
    from instr_select.atomic import atomic_directory
    from instr_select.encoder.train import AlignConfig, train_encoder

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match="not written by instr-select"):
        train_encoder(small_tasks(), None, mine, AlignConfig(epochs=1))
    with pytest.raises(ConfigError, match="not written by instr-select"), atomic_directory(mine):
        pass
    assert (mine / "thesis.tex").read_text() == "years of work" and len(list(mine.iterdir())) == 1
    (tmp_path / "empty").mkdir()
    with atomic_directory(tmp_path / "empty") as tmp:  # an empty folder may be filled
        (tmp / "manifest.json").write_text("{}")
    assert (tmp_path / "empty" / "manifest.json").is_file()


def test_unreadable_inputs_and_read_only_outputs_are_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    """Permission errors (simulated: the tests may run as root, who reads everything)."""
    from instr_select.cli.main import main

    tasks = write_tasks(tmp_path / "t.jsonl")
    real_read_text = Path.read_text

    def unreadable(self, *args, **kwargs):
        if self.name == "t.jsonl":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    for patch, argv in (
        (("pathlib.Path.read_text", unreadable), ["inspect", "jsonl", str(tasks)]),
        (("tempfile.mkdtemp", read_only), ["build-index", f"jsonl={tasks}", "--out", str(tmp_path / "idx")]),
    ):
        with monkeypatch.context() as m:
            m.setattr(*patch)
            with pytest.raises(SystemExit) as exit_info:
                main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "Permission denied" in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "idx").exists()


# ---- one writer per output -----------------------------------------------------------------------


def test_second_build_into_a_locked_out_fails_clearly_or_waits(tmp_path: Path) -> None:
    from instr_select.locking import output_lock

    tasks = write_tasks(tmp_path / "t.jsonl")
    out = tmp_path / "idx"
    with output_lock(out):
        proc = cli("build-index", f"jsonl={tasks}", "--out", str(out))
        err = proc.stderr.decode()
        assert proc.returncode == 2 and "being written by another instr-select run" in err, err
        assert len(err.strip().splitlines()) == 1 and not out.exists()
    waiter = """
import sys, time
from instr_select.locking import output_lock
started = time.monotonic()
with output_lock(sys.argv[1], wait=120):
    print(round(time.monotonic() - started, 1))
"""
    with output_lock(out):
        waiting = subprocess.Popen(
            [sys.executable, "-c", waiter, str(out)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        assert waiting.poll() is None  # it waits for the lock ...
    waited, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and float(waited) >= 1.0, err  # ... and takes it once it is free
    assert not (tmp_path / ".idx.lock").exists()  # removed when released


def test_two_concurrent_builds_never_both_replace(tmp_path: Path) -> None:
    from instr_select.index import InstructionIndex

    tasks = write_tasks(tmp_path / "t.jsonl")
    out = tmp_path / "idx"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "instr_select.cli", "build-index", f"jsonl={tasks}", "--out", str(out)]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read().decode()) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results  # both succeed only one after the other
    for code, err in results:
        if code == 2:
            assert "being written by another instr-select run" in err and "Traceback" not in err
    assert len(InstructionIndex.load(out)) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "t.jsonl"]


# ---- reproducible, with the user's permissions ---------------------------------------------------


ARTEFACTS = """
import sys
from instr_select.cli.main import main

tasks, pairs, selection, out, data = sys.argv[1:]
for argv in (
    ["build-index", f"jsonl={tasks}", "--out", f"{out}/index"],
    ["train-encoder", f"jsonl={pairs}", "--out", f"{out}/encoder", "--epochs", "1", "--dim", "16", "--vocab-size", "200"],
    ["export", "--tasks", selection, "--out", f"{out}/mixture", "--max-per-task", "5", "--data-dir", data],
):
    try:
        main(argv)
    except SystemExit as exc:
        assert not exc.code, (argv, exc.code)
"""
VOLATILE = {"created", "command", "history", "build_seconds", "seconds", "train_seconds"}


def _stable(name: str, data: bytes):
    """A file's content without what records when and how long (timestamps, durations, command line)."""
    if name.endswith(".json") and Path(name).name in ("manifest.json", "training_info.json", "mixture.json"):

        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
            return [strip(v) for v in value] if isinstance(value, list) else value

        return strip(json.loads(data))
    if name.endswith("README.md"):
        return [line for line in data.decode().splitlines() if "seconds" not in line]
    return data


def test_artefacts_are_byte_identical_across_hash_seeds(tmp_path: Path, data_dir: Path) -> None:
    tasks = write_tasks(tmp_path / "t.jsonl", n=21)
    pairs = tmp_path / "pairs.jsonl"
    words = ["cats", "dogs", "fish", "birds", "trees", "cars", "boats", "rain"]
    rows = [
        {"task_id": f"p{i}", "instructions": [f"Answer question {i}.", f"Reply to {w} query {i}."]}
        for i, w in enumerate(words)
    ]
    pairs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "sel.txt").write_text("bbh:navigate\nbbh:date_understanding\n")
    runs = [  # side by side: two processes, two hash seeds
        subprocess.Popen(
            [sys.executable, "-c", ARTEFACTS, str(tasks), str(pairs), str(tmp_path / "sel.txt"), str(tmp_path / seed),
             str(data_dir)],
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed},
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        for seed in ("1", "2")
    ]  # fmt: skip
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()[-3000:]
    first, second = snapshot(tmp_path / "1"), snapshot(tmp_path / "2")
    assert sorted(first) == sorted(second) and len(first) > 20
    exact = [name for name in first if _stable(name, first[name]) is first[name]]
    assert any(name.startswith("index/bm25/") for name in exact) and "index/vectors.npy" in exact
    for name in first:  # BM25 arrays, vocab.index.json, vectors, FAISS, weights, records: every byte
        ours = [
            _stable(name, _unplaced(data, tmp_path / seed)) for data, seed in ((first[name], "1"), (second[name], "2"))
        ]
        assert ours[0] == ours[1], name


def _unplaced(data: bytes, out: Path) -> bytes:
    """Trainer configs (axolotl.yaml, ...) name their data files by absolute path: compare them without it."""
    return data.replace(os.fsencode(out), b"OUT")


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    from instr_select.index import build_index

    old = os.umask(0o022)
    try:
        out = build_index(small_tasks(), save_tiny_model(tmp_path / "enc", small_tasks()), tmp_path / "index")
    finally:
        os.umask(old)
    modes = {str(p.relative_to(out)): p.stat().st_mode & 0o777 for p in [out, *out.rglob("*")]}
    assert modes["encoder/model.safetensors"] == 0o644
    assert {m for name, m in modes.items() if (out / name).is_file()} == {0o644}
    assert {m for name, m in modes.items() if (out / name).is_dir()} == {0o755}


# ---- subprocess cases: what only a real process shows --------------------------------------------


def test_undecodable_argv_and_deep_json_in_a_real_process(tmp_path: Path, index_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "instr_select.cli", "query", b"caf\xff\xfe", "--index", str(index_dir)],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2 and "lone surrogate" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"task_id": "a", "instruction": "x", "metadata": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    proc = cli("build-index", f"jsonl={deep}", "--out", str(tmp_path / "idx"))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "nested too deeply" in err and "Traceback" not in err, err
    assert not (tmp_path / "idx").exists()


def test_surrogates_in_an_instruction_file_and_a_query_path(tmp_path: Path) -> None:
    tasks = tmp_path / "t.jsonl"
    tasks.write_text('{"task_id": "a", "instruction": "caf\\udce9"}\n')
    proc = cli("inspect", "jsonl", str(tasks))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "lone surrogate" in err and len(err.strip().splitlines()) == 1, err
    proc = cli("query", "x", "--index", os.fsdecode(bytes(tmp_path) + b"/\xff"))
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# ---- no network when offline ---------------------------------------------------------------------

AUDIT_HOOK = """
import json, socket, sys
events = []

def audit(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        events.append([event, str(args[0])])
    elif event in ("socket.connect", "socket.sendto") and getattr(args[0], "family", None) in (
        socket.AF_INET, socket.AF_INET6):
        events.append([event, str(args[1])])

sys.addaudithook(audit)
"""

SOCKET_AUDIT = (
    AUDIT_HOOK
    + """
from instr_select.cli.main import main

results = []
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    results.append([argv[0], code, list(events)])
    events.clear()
print("AUDIT " + json.dumps(results))
"""
)


def test_nothing_opens_a_socket_when_offline(tmp_path: Path, index_dir: Path, data_dir: Path) -> None:
    tasks = write_tasks(tmp_path / "t.jsonl")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps({"task_id": f"p{i}", "instructions": [f"Answer question {i} now.", f"Reply to query {i}."]})
            for i in range(8)
        )
        + "\n"
    )
    (tmp_path / "sel.txt").write_text("bbh:navigate\n")
    runs = [
        ["query", "translate english to french", "--index", str(index_dir), "--json"],
        ["build-index", f"jsonl={tasks}", "--out", str(tmp_path / "idx")],
        ["train-encoder", f"jsonl={pairs}", "--out", str(tmp_path / "enc"), "--epochs", "1", "--dim", "16",
         "--vocab-size", "200"],
        ["export", "--tasks", str(tmp_path / "sel.txt"), "--out", str(tmp_path / "mix"), "--max-per-task", "4",
         "--data-dir", str(data_dir), "--format", "messages"],
        ["tune", str(tmp_path / "mix"), "--model", "tiny-t5", "--out", str(tmp_path / "model"), "--max-steps", "1",
         "--quiet"],
        ["tune", str(tmp_path / "mix"), "--model", "org/name", "--out", str(tmp_path / "hub"), "--max-steps", "1"],
        ["inspect", "hf", "user/name"],
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    proc = python(SOCKET_AUDIT, json.dumps(runs), env=env, cwd=tmp_path, timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("AUDIT ")), None)
    assert line is not None, proc.stderr[-3000:]
    results = json.loads(line[len("AUDIT ") :])
    assert [r[1] for r in results] == [0, 0, 0, 0, 0, 2, 2], (results, proc.stderr[-3000:])
    assert all(not r[2] for r in results), [r for r in results if r[2]]


API_SOCKET_AUDIT = (
    AUDIT_HOOK
    + """
import os
from pathlib import Path

import datasets, huggingface_hub  # a user's own imports, made before any instr-select call
from instr_select.errors import InstrSelectError

root, encoder = Path(sys.argv[1]), sys.argv[2]
results = []

def attempt(name, call):
    try:
        call()
        outcome = "ok"
    except InstrSelectError:
        outcome = "error"
    results.append([name, outcome, list(events)])
    events.clear()

from instr_select.encoder import load_encoder, train_encoder, AlignConfig
from instr_select.index import build_index
from instr_select.loaders import load_source
from instr_select.models import resolve_model
from instr_select.tuning.modeling import load_model

tasks = load_source("jsonl", path=root / "t.jsonl")
attempt("load_source hf", lambda: load_source("hf", path="user/name"))
attempt("promptsource render", lambda: load_source("promptsource", path=root / "ps", render_examples=2)[0].examples)
attempt("resolve_model", lambda: resolve_model("org/name"))
attempt("load_model", lambda: load_model("org/name"))
attempt("load_encoder", lambda: load_encoder(encoder))
attempt("build_index", lambda: build_index(tasks, encoder, root / "idx"))
pairs = load_source("jsonl", path=root / "pairs.jsonl")
attempt("train_encoder", lambda: train_encoder(pairs, None, root / "enc", AlignConfig(epochs=1, dim=16, vocab_size=200)))
switches = [os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")]
print("AUDIT " + json.dumps([results, switches, huggingface_hub.constants.HF_HUB_OFFLINE]))
"""
)


def test_python_api_is_offline_by_default(tmp_path: Path) -> None:
    """No CLI: the API's own entry points switch every library offline, even one imported before."""
    write_tasks(tmp_path / "t.jsonl")
    rows = [
        {"task_id": f"p{i}", "instructions": [f"Answer question {i} now.", f"Reply to query {i}."]} for i in range(8)
    ]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    encoder = save_tiny_model(tmp_path / "tiny", small_tasks())
    folder = tmp_path / "ps" / "templates" / "super_glue" / "rte"
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_text("templates:\n  a:\n    jinja: '{{premise}} ||| {{label}}'\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    proc = python(API_SOCKET_AUDIT, str(tmp_path), str(encoder), env=env, cwd=tmp_path, timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("AUDIT ")), None)
    assert line is not None, proc.stderr[-3000:]
    results, switches, hub_offline = json.loads(line[len("AUDIT ") :])
    outcomes = {name: outcome for name, outcome, _ in results}
    assert outcomes == {
        "load_source hf": "error",
        "promptsource render": "ok",  # instruction-only, with a note
        "resolve_model": "error",
        "load_model": "error",
        "load_encoder": "ok",
        "build_index": "ok",
        "train_encoder": "ok",
    }, (results, proc.stderr[-3000:])
    assert all(not events for _, _, events in results), [r for r in results if r[2]]
    assert switches == ["1", "1", "1"] and hub_offline is True


def test_explicit_hub_opt_in_is_left_alone(monkeypatch) -> None:
    import huggingface_hub.constants

    from instr_select.offline import OFFLINE_SWITCHES, ensure_offline

    for name in OFFLINE_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    ensure_offline()
    assert os.environ["HF_HUB_OFFLINE"] == "0" and "TRANSFORMERS_OFFLINE" not in os.environ
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False
    monkeypatch.delenv("HF_HUB_OFFLINE")
    ensure_offline()
    assert [os.environ[name] for name in OFFLINE_SWITCHES] == ["1", "1", "1"]
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True


# ---- property-based: the JSONL loader and the queries file only ever load or say why -------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
EXAMPLE = st.fixed_dictionaries(
    {"input": st.text(max_size=10), "output": st.text(max_size=10)},
    optional={"options": st.lists(st.text(max_size=5), max_size=3)},
)
VALID_FIELDS = {  # each field well-formed or any JSON value: rows near the format's edge
    "categories": st.lists(st.text(max_size=8), max_size=3),
    "source": st.text(max_size=8),
    "split": st.text(max_size=8),
    "languages": st.lists(st.text(max_size=5), max_size=2),
    "metadata": st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=2),
    "examples": st.lists(EXAMPLE | JSON_VALUES, max_size=2),
    "instructions": st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3),
}
ROWS = st.fixed_dictionaries(
    {"task_id": st.one_of(*[st.text(min_size=1, max_size=12)] * 3, JSON_VALUES), "instruction": st.text(max_size=40)},
    optional={name: st.one_of(valid, valid, JSON_VALUES) for name, valid in VALID_FIELDS.items()},
)
LINES = st.lists(
    st.one_of(*[ROWS.map(json.dumps)] * 6, st.text(max_size=30), JSON_VALUES.map(json.dumps)),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES)
def test_jsonl_loader_loads_or_says_why(tmp_path_factory, lines: list[str]) -> None:
    from instr_select.loaders import load_source

    path = tmp_path_factory.mktemp("prop") / "t.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        tasks = load_source("jsonl", path=path)
    except InstrSelectError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    for task in tasks:
        assert isinstance(task.task_id, str) and all(isinstance(t, str) and t for t in task.instructions)
        assert all(isinstance(c, str) for c in task.categories) and isinstance(task.metadata, dict)
        json.dumps(task.to_dict(with_examples=True))


WORDS = st.text(alphabet="abcdefghij XYZ_-.?", min_size=1, max_size=20).filter(lambda t: any(c.isalpha() for c in t))
GOOD_ROW = st.fixed_dictionaries(
    {"instruction": WORDS},
    optional={
        "categories": st.lists(WORDS, max_size=3),
        "source": WORDS,
        "languages": st.lists(WORDS, max_size=2),
        "metadata": st.dictionaries(WORDS, st.integers() | WORDS, max_size=2),
        "examples": st.lists(st.fixed_dictionaries({"input": WORDS, "output": WORDS}), max_size=2),
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(GOOD_ROW, min_size=1, max_size=4))
def test_well_formed_jsonl_always_loads_as_written(tmp_path_factory, rows: list[dict]) -> None:
    from instr_select.loaders import load_source

    path = tmp_path_factory.mktemp("prop") / "t.jsonl"
    rows = [{"task_id": f"task{i}", **row} for i, row in enumerate(rows)]
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    tasks = load_source("jsonl", path=path)
    for row, task in zip(rows, tasks, strict=True):
        assert task.task_id == row["task_id"] and task.instructions == [row["instruction"].strip()]
        assert task.categories == row.get("categories", []) and task.metadata == row.get("metadata", {})
        assert [(e.input, e.output) for e in task.examples] == [
            (e["input"], e["output"]) for e in row.get("examples", [])
        ]


QUERY_ROWS = st.dictionaries(st.sampled_from(["id", "instruction", "other"]), JSON_VALUES, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(QUERY_ROWS.map(json.dumps), st.text(max_size=20)), max_size=5))
def test_queries_file_reads_or_says_why(tmp_path_factory, lines: list[str]) -> None:
    from instr_select.cli.query_command import read_queries

    path = tmp_path_factory.mktemp("prop") / "q.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        queries = read_queries(str(path))
    except InstrSelectError as exc:
        assert "\n" not in str(exc)
        return
    ids = [query_id for query_id, _ in queries]
    assert len(set(ids)) == len(ids) and all(isinstance(i, str) for i in ids)
    assert all(isinstance(text, str) and text.strip() for _, text in queries)


def test_long_task_ids_get_short_distinct_file_names() -> None:
    from instr_select.paths import file_stem

    assert file_stem("bbh:date_understanding") == "bbh__date_understanding"
    long_a, long_b = "niv2:" + "a" * 300, "niv2:" + "a" * 299 + "b"
    assert len(file_stem(long_a)) <= 80 and file_stem(long_a) != file_stem(long_b)
    assert "/" not in file_stem("promptsource:glue/rte") and file_stem("x:\udcff") != file_stem("x:_")
