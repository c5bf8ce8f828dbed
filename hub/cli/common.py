"""The options several verbs share, defined once: the same flag means the same thing everywhere.

``--no-progress`` turns off every progress bar the verb would draw (the hub's own and
huggingface_hub's, through :func:`hub.progress.shown`); ``--json`` prints the verb's result as JSON on
stdout instead of a summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

no_progress_option = click.option("--no-progress", is_flag=True, help="No progress bars (the hub's and huggingface_hub's).")


def json_option(what: str = "the result") -> Callable[[Any], Any]:
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON instead of a summary.")

