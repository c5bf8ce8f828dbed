"""The ``hub`` command line: thin click commands over the Python API.

Each verb group lives in its own module and imports heavy libraries only
inside the command that needs them, so ``hub --help`` and the listing
commands start without torch. Errors the user can fix arrive as
:class:`hub.errors.HubError` and leave as one line on stderr with exit code 1
(2 for usage errors); ``--debug`` or ``HUB_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import logging
import os
import traceback

import click

from ..version import __version__
from ..errors import HubError
from .ensemble_cmd import ensemble
from ._output import safe
from .cache_cmd import cache
from .card_cmd import card
from .dataset_cmd import dataset
from .export_cmd import bench, export, predict, validate
from .list_cmd import list_components
from .plugins_cmd import plugins
from .pretrain_cmd import pretrain
from .publish_cmd import pull, push
from .run_cmd import run
from .serve_cmd import serve
from .train_cmd import train
from .zoo_cmd import zoo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hub", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors (also HUB_DEBUG=1).")
@click.option("--strict", is_flag=True, help="Fail if any plugin is broken (also HUB_STRICT_PLUGINS=1).")
@click.option("-v", "--verbose", is_flag=True, help="Log what the hub is doing.")
def cli(debug: bool, strict: bool, verbose: bool) -> None:
    """Fine-tune pretrained backbones, export them to ONNX and publish them."""
    logging.basicConfig(level=logging.INFO if verbose or debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # huggingface_hub prints its warnings through its own handler; ours would print each one again.
    logging.getLogger("huggingface_hub").propagate = False
    if debug:
        os.environ["HUB_DEBUG"] = "1"
    if strict:
        os.environ["HUB_STRICT_PLUGINS"] = "1"


cli.add_command(plugins)
cli.add_command(list_components)
cli.add_command(zoo)
cli.add_command(serve)
cli.add_command(train)
cli.add_command(pretrain)
cli.add_command(push)
cli.add_command(pull)
cli.add_command(run)
cli.add_command(ensemble)
for command in (export, validate, predict, bench):
    cli.add_command(command)
cli.add_command(card)
cli.add_command(cache)
cli.add_command(dataset)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code instead of raising."""
    try:
        code = cli.main(args=argv, prog_name="hub", standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool):  # a raised click Exit(n) comes back as n
            return code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:  # click turns Ctrl-C into Abort when standalone_mode is off
        click.echo("aborted", err=True)
        return 130
    except HubError as exc:
        _report("error: " + " ".join(str(exc).split()))  # always one line, whatever the message held
        return 1
    except KeyboardInterrupt:  # 128 + SIGINT, the shell's convention; docs/cli.md says the same
        click.echo("aborted", err=True)
        return 130
    except Exception as exc:  # a bug: still one line, traceback on request
        _report(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                "(rerun with --debug for the traceback)")
        return 1
    return 0


def _report(line: str) -> None:
    if os.environ.get("HUB_DEBUG", "").strip() not in ("", "0"):
        traceback.print_exc()
    click.echo(safe(line), err=True)


