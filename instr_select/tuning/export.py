"""Export formats of a mixture, in the shapes the consuming trainers document.

One separator rule for every format: the prompt ends at ``Output:`` with no trailing
whitespace, and a ``completion`` is the answer with exactly one leading space
(``completion_text``), so that ``prompt + completion`` reads ``Output: NEG`` and the tokenised
prompt is a prefix of the tokenised prompt + completion (TRL, axolotl ``user_defined``). The
formats whose trainer places the answer itself (alpaca's template, a chat template) hold the
bare answer (``output``).

- ``records`` (``records.jsonl``, always written) and ``hf/`` (``save_to_disk``): every column,
  ``prompt, completion, instruction, input, output, task_id, meta_dataset``;
- ``alpaca``: ``instruction``, ``input``, ``output`` (LLaMA-Factory / axolotl alpaca);
- ``messages``: ``messages`` = [{role: user, content}, {role: assistant, content}] (TRL
  conversational; LLaMA-Factory sharegpt with OpenAI-style tags; axolotl ``chat_template``);
- ``prompt-completion``: ``prompt`` and ``completion`` (TRL prompt-completion; axolotl
  ``user_defined``).

Beside them: ``README.md``, a dataset card whose ``configs:`` name each format's file, so
``datasets.load_dataset(DIR, "messages")`` works; ``dataset_info.json`` for LLaMA-Factory
(``dataset_dir: DIR``); ``axolotl.yaml`` with a ``datasets:`` entry per format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError

FORMATS = ("alpaca", "messages", "prompt-completion", "hf")
FILE_NAMES = {"alpaca": "alpaca.jsonl", "messages": "messages.jsonl", "prompt-completion": "prompt_completion.jsonl"}
RECORDS_FILE = "records.jsonl"
HF_DIR = "hf"
CARD = "README.md"
LLAMA_FACTORY_INFO = "dataset_info.json"
AXOLOTL_FILE = "axolotl.yaml"
DEFAULT_NAME = "instr_select"
IDENTITY = ("task_id", "meta_dataset")
COMPLETION_SEPARATOR = " "


def completion_text(answer: str) -> str:
    """The answer as a completion: one leading space after the prompt's ``Output:``."""
    return COMPLETION_SEPARATOR + answer.lstrip()


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key, "") for key in IDENTITY}


def to_alpaca(record: dict[str, Any]) -> dict[str, Any]:
    """``{instruction, input, output, task_id, meta_dataset}``: the bare answer."""
    return {
        "instruction": record["instruction"],
        "input": record["input"],
        "output": record["output"],
        **_identity(record),
    }


def user_message(record: dict[str, Any]) -> str:
    """The user turn: instruction and input, separated by a blank line."""
    parts = [record["instruction"].strip(), record["input"].strip()]
    return "\n\n".join(p for p in parts if p)


def to_messages(record: dict[str, Any]) -> dict[str, Any]:
    """``{messages: [user, assistant], task_id, meta_dataset}``: the chat template places the answer."""
    return {
        "messages": [
            {"role": "user", "content": user_message(record)},
            {"role": "assistant", "content": record["output"]},
        ],
        **_identity(record),
    }


def to_prompt_completion(record: dict[str, Any]) -> dict[str, Any]:
    """``{prompt, completion, task_id, meta_dataset}``: the record's own prompt and completion."""
    return {"prompt": record["prompt"], "completion": record["completion"], **_identity(record)}


CONVERTERS = {"alpaca": to_alpaca, "messages": to_messages, "prompt-completion": to_prompt_completion}


def convert(records: Sequence[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    """Records in the export format ``fmt`` (``records``/``hf``: unchanged)."""
    if fmt in ("records", "hf"):
        return [dict(r) for r in records]
    if fmt not in CONVERTERS:
        raise ConfigError(f"unknown format {fmt!r} (choose from: records, {', '.join(CONVERTERS)})")
    return [CONVERTERS[fmt](r) for r in records]


def llama_factory_entries(name: str, formats: Sequence[str]) -> dict[str, Any]:
    """``dataset_info.json`` entries; ``file_name`` is relative to the export (LLaMA-Factory's ``dataset_dir``)."""
    entries: dict[str, Any] = {}
    if "alpaca" in formats:
        entries[name] = {
            "file_name": FILE_NAMES["alpaca"],
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    if "messages" in formats:
        entries[f"{name}_messages"] = {
            "file_name": FILE_NAMES["messages"],
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
        }
    return entries


def axolotl_datasets(out: Path, formats: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """One axolotl ``datasets:`` list per format (paste one under ``datasets:``; paths are absolute)."""
    base = out.resolve()
    entries: dict[str, list[dict[str, Any]]] = {}
    if "alpaca" in formats:
        entries["alpaca"] = [{"path": str(base / FILE_NAMES["alpaca"]), "ds_type": "json", "type": "alpaca"}]
    if "messages" in formats:
        entries["messages"] = [
            {
                "path": str(base / FILE_NAMES["messages"]),
                "ds_type": "json",
                "type": "chat_template",
                "field_messages": "messages",
                "message_property_mappings": {"role": "role", "content": "content"},
                "roles_to_train": ["assistant"],
            }
        ]
    if "prompt-completion" in formats:
        entries["prompt-completion"] = [
            {
                "path": str(base / FILE_NAMES["prompt-completion"]),
                "ds_type": "json",
                "type": {
                    "field_instruction": "prompt",
                    "field_output": "completion",
                    "format": "{instruction}",
                    "no_input_format": "{instruction}",
                },
            }
        ]
    return entries


def dataset_card(formats: Sequence[str], manifest: dict[str, Any] | None = None, out: Path | None = None) -> str:
    """A Hugging Face dataset card whose ``configs:`` name each format's JSONL file (split ``train``).

    With ``out`` (the folder holding the files), each config's ``dataset_info`` carries its file's
    sha256: ``datasets`` keys its cache by the folder's name and the card, not by the files, so
    without it every export folder called ``mix`` would load as the first one ever loaded.
    """
    import yaml

    from instr_select.hashing import file_sha256

    files = {"records": RECORDS_FILE, **{fmt: FILE_NAMES[fmt] for fmt in formats if fmt in FILE_NAMES}}
    configs = [{"config_name": name, "data_files": [{"split": "train", "path": file}]} for name, file in files.items()]
    configs[0]["default"] = True
    card: dict[str, Any] = {"configs": configs}
    if out is not None:
        card["dataset_info"] = [
            {"config_name": name, "description": f"{file} sha256 {file_sha256(out / file)}"}
            for name, file in files.items()
        ]
    header = yaml.safe_dump(card, sort_keys=False)
    manifest = manifest or {}
    lines = [
        "---",
        header.rstrip(),
        "---",
        "",
        "# instr-select training mixture",
        "",
        f"{manifest.get('examples', '?')} examples from {len(manifest.get('tasks', []))} tasks, "
        f"selected by `{manifest.get('selector', '?')}`"
        + (f" for: {manifest['query']}" if manifest.get("query") else "")
        + ". How it was made: `mixture.json`.",
        "",
        "```python",
        "import datasets",
        "",
        'ds = datasets.load_dataset("THIS_DIR", "messages", split="train")  # or: '
        + ", ".join(f'"{c["config_name"]}"' for c in configs if c["config_name"] != "messages"),
    ]
    if HF_DIR in formats:
        lines.append('ds = datasets.load_from_disk("THIS_DIR/hf")  # every column, Arrow')
    lines += ["```", ""]
    return "\n".join(lines)


def check_formats(formats: Sequence[str], llama_factory: str | None = None) -> list[str]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown format {unknown[0]!r} (choose from: {', '.join(FORMATS)})")
    if llama_factory is not None and not {"alpaca", "messages"} & set(formats):
        raise ConfigError("--llama-factory needs --format alpaca or --format messages")
    return list(dict.fromkeys(formats))


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_formats(
    records: Sequence[dict[str, Any]],
    out: Path,
    formats: Sequence[str],
    llama_factory: str | None = None,
    final: Path | None = None,
    manifest: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Write each requested format into ``out`` (``final``: where it will live, for absolute paths).

    Returns {file: description} for the manifest. LLaMA-Factory's ``dataset_info.json`` is written
    whenever alpaca or messages is (entry name ``llama_factory``, default ``instr_select``).
    """
    import yaml

    formats = check_formats(formats, llama_factory)
    files: dict[str, str] = {}
    for fmt in formats:
        if fmt == "hf":
            import datasets
            from datasets.utils import disable_progress_bars, enable_progress_bars, is_progress_bar_enabled

            from instr_select.progress import enabled

            shown = is_progress_bar_enabled()
            if shown and not enabled():
                disable_progress_bars()
            try:
                datasets.Dataset.from_list(list(records)).save_to_disk(str(out / HF_DIR))
            finally:
                if shown:
                    enable_progress_bars()
            files[HF_DIR] = "datasets.load_from_disk"
            continue
        _write_jsonl(out / FILE_NAMES[fmt], convert(records, fmt))
        files[FILE_NAMES[fmt]] = fmt
    (out / CARD).write_text(dataset_card(formats, manifest, out), encoding="utf-8")
    files[CARD] = "dataset card: datasets.load_dataset(DIR, CONFIG)"
    if {"alpaca", "messages"} & set(formats):
        info = llama_factory_entries(llama_factory or DEFAULT_NAME, formats)
        (out / LLAMA_FACTORY_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
        files[LLAMA_FACTORY_INFO] = "LLaMA-Factory dataset_info (dataset_dir: DIR)"
    axolotl = axolotl_datasets(final or out, formats)
    if axolotl:
        text = "# Paste one format's list under `datasets:` in an axolotl config (train_on_inputs: false).\n"
        (out / AXOLOTL_FILE).write_text(text + yaml.safe_dump(axolotl, sort_keys=False), encoding="utf-8")
        files[AXOLOTL_FILE] = "axolotl datasets: entries, one per format"
    return files
