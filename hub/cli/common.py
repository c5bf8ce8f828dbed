"""The options several verbs share, defined once: the same flag means the same thing everywhere.

``--no-progress`` turns off every progress bar the verb would draw (the hub's own and
huggingface_hub's); ``--json`` prints the verb's result as JSON on stdout instead of a summary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import click

no_progress_option = click.option("--no-progress", is_flag=True, help="No progress bars (the hub's and huggingface_hub's).")


def json_option(what: str = "the result") -> Callable[[Any], Any]:
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON instead of a summary.")


@contextlib.contextmanager
def progress_bars(show: bool) -> Iterator[None]:
    """Bars on or off for one verb; off also silences huggingface_hub's upload/download bars."""
    from ..progress import enabled, is_enabled

    if not show:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    with enabled(show and is_enabled()):
        yield
