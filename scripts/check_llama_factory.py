"""Read an export folder with LLaMA-Factory's own dataset parser and converters.

LLaMA-Factory is not a dependency: install its source without dependencies somewhere, e.g.
``pip install --no-deps --target /tmp/lf llamafactory==0.9.5``, then

    python scripts/check_llama_factory.py EXPORT_DIR --llama-factory /tmp/lf

Only ``extras.misc`` (model-hub switches that import torch audio/vision packages) is replaced,
by functions answering "no hub"; ``data/parser.py`` and ``data/converter.py`` run as shipped.
Prints each dataset entry's parsed attributes and its first converted example; exit 1 on failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--llama-factory", required=True, help="folder holding the llamafactory package")
    args = parser.parse_args()
    root = Path(args.llama_factory) / "llamafactory"
    for package in ("llamafactory", "llamafactory.extras", "llamafactory.data"):
        stub = types.ModuleType(package)
        stub.__path__ = [str(root / package.partition(".")[2].replace(".", "/"))]
        sys.modules[package] = stub
    misc = types.ModuleType("llamafactory.extras.misc")
    misc.use_modelscope = misc.use_openmind = lambda: False
    sys.modules["llamafactory.extras.misc"] = misc
    _load("llamafactory.extras.constants", root / "extras" / "constants.py")
    _load("llamafactory.extras.logging", root / "extras" / "logging.py")
    _load("llamafactory.data.data_utils", root / "data" / "data_utils.py")
    lf_parser = _load("llamafactory.data.parser", root / "data" / "parser.py")
    converter = _load("llamafactory.data.converter", root / "data" / "converter.py")

    export = Path(args.export_dir)
    names = list(json.loads((export / "dataset_info.json").read_text()))
    data_args = types.SimpleNamespace(media_dir=str(export), dataset_dir=str(export))
    for attr in lf_parser.get_dataset_list(names, str(export)):
        rows = (export / attr.dataset_name).read_text(encoding="utf-8").splitlines()
        convert = converter.get_dataset_converter(attr.formatting, attr, data_args)
        example = convert(json.loads(rows[0]))
        roles = [m["role"] for m in example["_prompt"]] + [m["role"] for m in example["_response"]]
        print(f"{attr.dataset_name}: formatting={attr.formatting}, {len(rows)} rows, first example roles {roles}")
        print(
            f"  prompt: {example['_prompt'][-1]['content'][:80]!r}\n  response: {example['_response'][0]['content']!r}"
        )
        if roles != ["user", "assistant"] or not example["_response"][0]["content"]:
            print("  not a user/assistant pair", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
