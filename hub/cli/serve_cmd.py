"""``hub serve``: run the self-hosted Hugging Face-compatible hub server.

Starlette and uvicorn are imported inside the command so that ``hub --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from ..leaderboard.results import LEADERBOARD_REPO


def default_data_dir() -> Path:
    """``$HUB_HOME/serve`` when ``HUB_HOME`` is set, else ``~/.cache/hub/serve``."""
    home = os.environ.get("HUB_HOME")
    return Path(home) / "serve" if home else Path.home() / ".cache" / "hub" / "serve"


@click.group(invoke_without_command=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where repos and LFS objects are stored [default: $HUB_HOME/serve or ~/.cache/hub/serve].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Anything but loopback exposes the server to the network.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on (0 picks a free one).")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File of 'token username [org ...]' lines; also HUB_SERVE_TOKENS='tok:user,...'.")
@click.option("--allow-any-namespace", is_flag=True,
              help="Let every valid token write to any namespace (single-user setups).")
@click.option("--max-commit-bytes", default=None, metavar="SIZE",
              help="Largest commit body accepted (e.g. 64M, 1G; 413 past it) [default: 64M, "
                   "or HUB_SERVE_MAX_COMMIT_BYTES].")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Server log level.")
@click.option("--idle-timeout", default=None, type=click.FloatRange(min=0), metavar="SECONDS",
              help="Stop after this many seconds without a request (0: never) [default: never; the "
                   "embedded hub: 3600, or HUB_EMBEDDED_IDLE_S]. It always stops when its --data folder "
                   "is deleted or replaced.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes over the one data folder and port (commits serialised across them; "
                   "sessions and Xet tokens valid on every one).")
@click.option("--stop", "stop_embedded", is_flag=True, help="Stop the embedded local hub (same as `hub serve stop`).")
@click.option("--storage", default=None, metavar="s3://BUCKET[/PREFIX]",
              help="Keep LFS objects and Xet xorbs in this S3 bucket (endpoint and keys from AWS_ENDPOINT_URL, "
                   "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); git metadata stays in --data [default: in --data].")
@click.option("--leaderboard", default=LEADERBOARD_REPO, show_default=True, metavar="REPO_ID",
              help="The dataset repo (results/*.csv, pushed by `hub zoo bench`) the /leaderboard page shows.")
@click.pass_context
def serve(ctx: click.Context, data_dir: Path | None, host: str, port: int, token_file: Path | None,
          allow_any_namespace: bool, max_commit_bytes: str | None, log_level: str, idle_timeout: float | None,
          workers: int, stop_embedded: bool, storage: str | None, leaderboard: str) -> None:
    """Serve model repos to the huggingface_hub client (uploads included).

    Point clients at it with HF_ENDPOINT=<printed URL> (Xet and classic LFS both work). Reads of public
    repos need no token; writes need a token from --token-file or HUB_SERVE_TOKENS (either may
    hold sha256:<hex> hashes of tokens: see `hub serve hash-token`). The server stops on its own when
    its data folder is deleted or replaced, and after --idle-timeout seconds without a request.
    """
    if ctx.invoked_subcommand is not None:
        return
    if stop_embedded:
        ctx.invoke(stop_cmd)
        return
    from ..server.objects import StorageError
    from ..server.datadir import DataDirBusy
    from ..server.workers import WorkerFailed
    from ..server.serving import serve as run_server
    from ..server.auth import parse_token_env, parse_token_file
    from ..server.limits import max_commit_from_env, parse_size
    from ..server.web.leaderboard_page import check_board_id

    try:
        tokens, orgs = parse_token_file(token_file) if token_file else ({}, {})
        tokens.update(parse_token_env())
        limit = parse_size(max_commit_bytes, "--max-commit-bytes") if max_commit_bytes else max_commit_from_env()
        check_board_id(leaderboard)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not tokens:
        click.echo("warning: no tokens configured; the server is read-only "
                   "(use --token-file or HUB_SERVE_TOKENS)", err=True)
    data_dir = data_dir or default_data_dir()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(url: str) -> None:
        click.echo(f"hub serve: listening on {url} (data: {data_dir})")
        click.echo(f"  export HF_ENDPOINT={url}")

    try:
        run_server(data_dir, host=host, port=port, tokens=tokens, orgs=orgs,
                   allow_any_namespace=allow_any_namespace, max_commit_bytes=limit, on_ready=ready,
                   idle_timeout=idle_timeout or None, storage=storage, workers=workers, leaderboard=leaderboard)
    except (StorageError, DataDirBusy, WorkerFailed) as exc:  # one line: what, where, what to do
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc


@serve.command("hash-token")
@click.option("--new", "generate", is_flag=True, help="Make a new random token and print it with its hash.")
def hash_token_cmd(generate: bool) -> None:
    """Print the sha256:<hex> entry for a token, for a hashed --token-file.

    The token is read from standard input (or asked for, hidden, on a terminal), so it appears
    neither in the shell history nor in `ps`. With --new, a fresh token is made: give the token
    to its user, put the hash in the token file.
    """
    import sys

    from ..server.auth import hash_token, new_token

    if generate:
        token = new_token()
        click.echo(f"token: {token}")
        click.echo(f"token-file entry: {hash_token(token)} USERNAME [ORG ...]")
        return
    if sys.stdin.isatty():
        token = click.prompt("token", hide_input=True)
    else:
        token = sys.stdin.readline().strip()
    if not token:
        raise click.ClickException("no token given on standard input")
    click.echo(hash_token(token))


_DATA_OPTION = click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help="The server's data folder [default: the embedded hub's, $HUB_HOME/serve].")


@serve.command("status")
@_DATA_OPTION
@click.option("--json", "as_json", is_flag=True,
              help="Print {running, pid, url, data, started, idle_timeout, answering, workers, storage} as JSON.")
def status_cmd(data_dir: Path | None, as_json: bool) -> None:
    """Say whether the hub server over a data folder (by default the embedded local hub that `hub push`
    starts on its own) is running, where, since when, with which worker processes, and what it stores."""
    import json

    from ..publish.embedded import home, server_status

    data = data_dir or home()
    what = "the embedded hub" if data_dir is None else "hub serve"
    state = server_status(data)
    if as_json:
        click.echo(json.dumps({"running": state is not None, **(state or {"data": str(data)})}))
    elif state is None:
        click.echo(f"{what} is not running (data: {data})")
    else:
        note = "" if state["answering"] else (" but not answering its token (the next push restarts it)"
                                              if data_dir is None else " but not answering")
        since = f"since {state['started']}" if state.get("started") else "since an unknown time"
        click.echo(f"{what} is running at {state['url']} (pid {state['pid']}, {since}, "
                   f"data: {state['data']}, {_idle_text(state.get('idle_timeout'))}){note}")
        workers = state.get("workers") or []
        click.echo(f"  workers: {len(workers)} (pids {', '.join(map(str, workers))})")
        click.echo(f"  storage: {_storage_text(state.get('storage') or {})}")


def _storage_text(stats: dict) -> str:
    from ..server.runstate import human_bytes

    def objects(count: int | None, size: int | None, name: str) -> str:
        return f"{name} unknown" if count is None else f"{count} {name} ({human_bytes(size or 0)})"

    text = (f"{stats.get('repos', 0)} repos, {objects(stats.get('lfs_objects'), stats.get('lfs_bytes'), 'LFS objects')}, "
            f"{objects(stats.get('xorbs'), stats.get('xorb_bytes'), 'xorbs')}")
    return text + (f" ({stats['error']})" if stats.get("error") else "")


def _idle_text(idle: float | None) -> str:
    if idle is None:  # an embedded.json written before the idle timeout existed
        return "idle timeout unknown"
    return f"stops after {idle:g} s without a request" if idle else "no idle timeout"


@serve.command("stop")
@_DATA_OPTION
def stop_cmd(data_dir: Path | None = None) -> None:
    """Stop the hub server over a data folder (by default the embedded local hub) and all its workers;
    repos stay in the data folder (the next push starts the embedded hub again)."""
    from ..publish.embedded import home, stop_server

    data = data_dir or home()
    what = "the embedded hub" if data_dir is None else "hub serve"
    if stop_server(data):
        click.echo(f"stopped {what} (data kept in {data})")
    else:
        click.echo(f"{what} was not running")


@serve.command("gc")
@_DATA_OPTION
@click.option("--storage", default=None, metavar="s3://BUCKET[/PREFIX]",
              help="Where the server keeps its objects [default: what the running server over --data uses, "
                   "else the data folder].")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--grace", default=3600.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help="Keep anything stored more recently than this, referenced or not (uploads not yet committed).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def gc_cmd(data_dir: Path | None, storage: str | None, dry_run: bool, grace: float, as_json: bool) -> None:
    """Remove stored bytes no commit references (deleted repos, deleted branches): LFS objects, Xet file
    records and xorbs. Safe while the server runs: commits wait while it decides and deletes."""
    import json

    from ..publish.embedded import home
    from ..server.gc import collect
    from ..server.objects import StorageError
    from ..server.runstate import human_bytes, read_state

    data = data_dir or home()
    if not (data / "repos").is_dir():
        raise click.ClickException(f"{data} is not a hub serve data folder (no repos/ in it); pass --data")
    storage = storage or (read_state(data) or {}).get("storage") or None
    try:
        report = collect(data, storage, dry_run=dry_run, grace=grace)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{report.repos} repos reference {report.referenced} large files")
    for name, swept in (("LFS objects", report.lfs), ("Xet file records", report.xet_files), ("xorbs", report.xorbs)):
        click.echo(f"  {name}: {verb} {swept.removed} ({human_bytes(swept.removed_bytes)}), "
                   f"kept {swept.kept} ({human_bytes(swept.kept_bytes)})")
