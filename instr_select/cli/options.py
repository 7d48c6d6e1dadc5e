"""Options shared by several subcommands."""

from __future__ import annotations

import click

from instr_select.textview import TEXT_VIEWS

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    envvar="INSTR_SELECT_DATA",
    help="Folder holding the meta-datasets (default: $INSTR_SELECT_DATA; in a source checkout, ../shared/data).",
)
lenient_option = click.option("--lenient", is_flag=True, help="Skip bad tasks and report how many and why.")


def text_view_option(default: str | None, help: str):
    return click.option(
        "--text-view",
        type=click.Choice(list(TEXT_VIEWS)),
        default=default,
        show_default=default is not None,
        help=help,
    )


quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No progress on stderr (also off when stderr is not a terminal)."
)
