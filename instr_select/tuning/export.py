"""Export formats of a mixture, in the shapes the consuming trainers document.

- ``alpaca``: JSONL with ``instruction``, ``input``, ``output`` (LLaMA-Factory alpaca format);
- ``messages``: JSONL with ``messages`` = [{role: user, content}, {role: assistant, content}]
  (TRL conversational format; LLaMA-Factory sharegpt format with OpenAI-style tags);
- ``prompt-completion``: JSONL with ``prompt`` and ``completion`` (TRL prompt-completion format;
  the completion starts with a space because TRL concatenates the two texts);
- ``hf``: a ``datasets`` directory written with ``save_to_disk`` (all columns).

Every format keeps ``task_id`` and ``meta_dataset``. ``dataset_info.json`` entries for
LLaMA-Factory are written on request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError

FORMATS = ("alpaca", "messages", "prompt-completion", "hf")
FILE_NAMES = {"alpaca": "alpaca.jsonl", "messages": "messages.jsonl", "prompt-completion": "prompt_completion.jsonl"}
HF_DIR = "hf"
IDENTITY = ("task_id", "meta_dataset")


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key, "") for key in IDENTITY}


def to_alpaca(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "instruction": record["instruction"],
        "input": record["input"],
        "output": record["output"],
        **_identity(record),
    }


def user_message(record: dict[str, Any]) -> str:
    parts = [record["instruction"].strip(), record["input"].strip()]
    return "\n\n".join(p for p in parts if p)


def to_messages(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": user_message(record)},
            {"role": "assistant", "content": record["output"]},
        ],
        **_identity(record),
    }


def to_prompt_completion(record: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": record["prompt"], "completion": " " + record["completion"], **_identity(record)}


CONVERTERS = {"alpaca": to_alpaca, "messages": to_messages, "prompt-completion": to_prompt_completion}


def llama_factory_entries(name: str, formats: Sequence[str]) -> dict[str, Any]:
    """``dataset_info.json`` entries for the JSONL files LLaMA-Factory reads."""
    entries: dict[str, Any] = {}
    if "alpaca" in formats:
        entries[name] = {
            "file_name": FILE_NAMES["alpaca"],
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


def check_formats(formats: Sequence[str], llama_factory: str | None = None) -> list[str]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown format {unknown[0]!r} (choose from: {', '.join(FORMATS)})")
    if llama_factory is not None and not {"alpaca", "messages"} & set(formats):
        raise ConfigError("--llama-factory needs --format alpaca or --format messages")
    return list(dict.fromkeys(formats))


def write_formats(
    records: Sequence[dict[str, Any]], out: Path, formats: Sequence[str], llama_factory: str | None = None
) -> dict[str, str]:
    """Write each requested format into ``out``; returns {file: description} for the manifest."""
    formats = check_formats(formats, llama_factory)
    files: dict[str, str] = {}
    for fmt in formats:
        if fmt == "hf":
            import datasets

            datasets.Dataset.from_list(list(records)).save_to_disk(str(out / HF_DIR))
            files[HF_DIR] = "datasets.load_from_disk"
            continue
        convert = CONVERTERS[fmt]
        with (out / FILE_NAMES[fmt]).open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(convert(record), ensure_ascii=False) + "\n")
        files[FILE_NAMES[fmt]] = fmt
    if llama_factory is not None:
        info = llama_factory_entries(llama_factory, formats)
        (out / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        files["dataset_info.json"] = "LLaMA-Factory dataset_info entries"
    return files
