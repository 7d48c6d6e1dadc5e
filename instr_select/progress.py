"""Progress, one way: tqdm bars on stderr, silent with ``--quiet`` or when stderr is not a terminal.

stdout stays machine-readable: every bar and stage line goes to stderr. ``instr-select -q``
(or a command's ``--quiet``, or ``INSTR_SELECT_QUIET=1``) silences them all; stage lines
("loaded 3,187 tasks") still reach a redirected stderr, bars do not.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

ENV_QUIET = "INSTR_SELECT_QUIET"
_quiet = False


def set_quiet(quiet: bool = True) -> None:
    """Silence (or re-enable) every bar of this process."""
    global _quiet
    _quiet = quiet


def silenced(quiet: bool = False) -> bool:
    """``quiet``, ``set_quiet()`` or ``INSTR_SELECT_QUIET=1``."""
    return quiet or _quiet or os.environ.get(ENV_QUIET, "").strip().lower() in ("1", "true", "yes")


def enabled(quiet: bool = False) -> bool:
    """Whether bars are shown: not silenced, and stderr is a terminal."""
    return not silenced(quiet) and bool(getattr(sys.stderr, "isatty", lambda: False)())


# read at import: by huggingface_hub (and through it transformers), and by tqdm as the default of
# `disable` (this module's bars pass `disable` themselves)
LIBRARY_BARS_OFF = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}


def library_bars() -> None:
    """The libraries' own bars (transformers' "Loading weights", sentence-transformers' model card,
    the hub's downloads) follow this module's rule: none with ``--quiet`` or when stderr is not a
    terminal. For the CLI, before the libraries are imported; a value the user set is kept."""
    if not enabled():
        for name, value in LIBRARY_BARS_OFF.items():
            os.environ.setdefault(name, value)


def bar(iterable: Iterable[Any] | None = None, quiet: bool = False, **kwargs: Any):
    """A ``tqdm`` bar on stderr (``desc``, ``total``, ``unit`` ... as tqdm), disabled unless ``enabled``."""
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, file=sys.stderr, disable=not enabled(quiet), **kwargs)


def say(quiet: bool = False) -> Callable[[str], None]:
    """A line printer for stage messages, on stderr (written through tqdm, so bars stay intact)."""
    from tqdm.auto import tqdm

    def write(line: str) -> None:
        if not silenced(quiet):
            tqdm.write(line, file=sys.stderr)

    return write


def use_bar(trainer: Any, desc: str, quiet: bool = False) -> Any:
    """Give a transformers ``Trainer`` this module's bar: steps on stderr with the loss, nothing on stdout.

    Replaces the Trainer's own ``ProgressCallback`` (which writes its log dicts to stdout) and
    ``PrinterCallback``. Returns the trainer.
    """
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class StderrBar(TrainerCallback):
        def __init__(self) -> None:
            self.shown = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.shown = bar(total=state.max_steps, desc=desc, unit="step", quiet=quiet)

        def on_step_end(self, args, state, control, **kwargs):
            if self.shown is not None:
                self.shown.update(state.global_step - self.shown.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.shown is not None and logs and "loss" in logs:
                self.shown.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

        def on_train_end(self, args, state, control, **kwargs):
            if self.shown is not None:
                self.shown.close()
                self.shown = None

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StderrBar())
    return trainer
