"""``/leaderboard``: the zoo's accuracy x latency table and plot, from the leaderboard dataset repo.

The rows are the ``results/*.csv`` files of one dataset repo on this server (``hub serve --leaderboard``,
default ``zoo/leaderboard``), pushed by ``hub zoo bench``; they are read from storage at ``main``, with
the reader's own visibility, as the dataset page reads files. A CSV comes from whoever could push, so
each is parsed by :func:`hub.leaderboard.results.from_csv` (bounded, every number checked) and a bad
one costs one error line naming it, never the page. Sorting is by links (``?sort=&order=``), so the
page stays script-free under the strict CSP.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from ...leaderboard import results
from ..commits import lfs_info_for
from ..context import Ctx
from ..repos import repo_key
from . import plot

DEFAULT_REPO = results.LEADERBOARD_REPO
MAX_FILES = 200
MAX_GROUPS = 60  # tables + plots on one page; further groups are named in one line
_CACHE: dict[tuple[str, str], dict[str, Any]] = {}  # (repo folder, commit) -> parsed rows; read-only once made
#: The columns a reader may sort by, and which way a first click sorts (better first).
SORTS = {"entry": "asc", "variant": "asc", "runtime": "asc", "metric_value": "desc", "params": "asc",
         "gflops": "asc", "size_mb": "asc", "latency_p50_ms": "asc", "latency_p90_ms": "asc",
         "throughput_b32": "desc", "threads": "asc", "date": "desc"}
DEFAULT_SORT = ("metric_value", "desc")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


def board_id(ctx: Ctx) -> str:
    """The leaderboard repo this server shows (``create_app(leaderboard=...)``)."""
    return getattr(ctx.request.app.state, "leaderboard", None) or DEFAULT_REPO


def sort_choice(query: dict[str, str]) -> tuple[str, str]:
    """``(column, order)`` from the query; anything not whitelisted falls back to the default."""
    column = query.get("sort", "")
    if column not in SORTS:
        return DEFAULT_SORT
    order = query.get("order", "")
    return column, order if order in ("asc", "desc") else SORTS[column]


def read_rows(ctx: Ctx, repo_id: str) -> dict[str, Any]:
    """``{"state", "rows", "errors", "files", "commit"}``: every readable ``results/*.csv`` at main.

    ``state`` is ``missing`` (no such repo, or private to someone else: the same answer, as for any
    repo page), ``empty`` (no CSV at main) or ``ok``. Runs in a worker thread (git, file reads).
    """
    key = repo_key("dataset", repo_id)
    meta = ctx.hub.visible_meta(ctx.user, key)
    if meta is None:
        return {"state": "missing", "rows": [], "errors": [], "files": [], "commit": None}
    repo = ctx.hub.store.open(key)
    commit = repo.resolve("main")
    cached = _CACHE.get((str(repo.path), commit))
    if cached is not None:  # a commit's files never change: parse them once, not on every anonymous GET
        return cached
    entries = [e for e in repo.ls_tree(commit, "results/") if e.type == "blob"] if commit else []
    csvs = sorted((e for e in entries if e.path.startswith("results/") and e.path.endswith(".csv")
                   and e.path.count("/") == 1), key=lambda e: e.path)
    rows: list[dict] = []
    errors: list[str] = []
    if len(csvs) > MAX_FILES:
        errors.append(f"{repo_id}: {len(csvs)} CSV files under results/; only the first {MAX_FILES} are read")
        csvs = csvs[:MAX_FILES]
    lfs = lfs_info_for(repo, csvs)
    for entry in csvs:
        where = f"{repo_id}/{entry.path}"
        if len(rows) >= results.MAX_ROWS:  # one page, one plot per group: bounded like one file
            errors.append(f"{where}: not read, the files before it hold {results.MAX_ROWS} rows already")
            continue
        try:
            text = _read(ctx, repo, entry, lfs.get(entry.oid), where)
            rows.extend(results.from_csv(text, where))
        except results.LeaderboardError as exc:
            errors.append(str(exc))
        if len(rows) > results.MAX_ROWS:
            errors.append(f"{where}: only the first {results.MAX_ROWS} rows of the leaderboard are shown")
            del rows[results.MAX_ROWS:]
    found = {"state": "ok" if csvs else "empty", "rows": rows, "errors": errors,
             "files": [e.path for e in csvs], "commit": commit}
    if commit:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[(str(repo.path), commit)] = found
    return found


def _read(ctx: Ctx, repo: Any, entry: Any, pointer: tuple[str, int, int] | None, where: str) -> str:
    """A CSV's text, never more than ``results.MAX_BYTES`` of it read (the size is known first)."""
    size = pointer[1] if pointer else entry.size
    if size > results.MAX_BYTES:
        raise results.LeaderboardError(f"{where}: larger than {results.MAX_BYTES >> 20} MiB; "
                                       "not a leaderboard written by the hub")
    if pointer is None:
        data = repo.read_blobs([entry.oid])[entry.oid]
    elif ctx.hub.lfs.granted(repo.path, pointer[0]):
        data = b"".join(ctx.hub.lfs.open(pointer[0], 0, pointer[1]))
    else:
        raise results.LeaderboardError(f"{where}: its LFS object is not on this server; push the file again")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise results.LeaderboardError(f"{where}: not UTF-8 text; write it with `hub zoo bench`") from None


def sorted_rows(rows: list[dict], column: str, order: str) -> list[dict]:
    """Rows by ``column`` (ties by entry and variant); rows without a value last, whichever the order."""
    rows = sorted(rows, key=lambda r: (r["entry"].lower(), r["variant"].lower()))
    have = [r for r in rows if r.get(column) not in (None, "")]
    lack = [r for r in rows if r.get(column) in (None, "")]
    text = isinstance(have[0][column], str) if have else False
    have.sort(key=(lambda r: r[column].lower()) if text else (lambda r: r[column]), reverse=order == "desc")
    return have + lack


def _repo_link(row: dict) -> str | None:
    """This hub's page of the row's model repo (at the measured commit); only a plain ``ns/name`` links,
    so a crafted ``repo`` cell cannot make an off-site or ``javascript:`` link."""
    repo = row.get("repo") or ""
    if not _REPO_ID.match(repo) or ".." in repo:
        return None
    commit = row.get("repo_commit") or ""
    return f"/{quote(repo)}" + (f"?rev={commit}" if _SHA.match(commit) else "")


def _number(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _params(value: int | None) -> str:
    if value is None:
        return ""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def table_row(row: dict, star: bool) -> dict[str, Any]:
    """What the template shows of one row: formatted cells, its link and whether it is on the front."""
    return {"entry": row["entry"], "variant": row["variant"], "runtime": row["runtime"],
            "runtime_version": row["runtime_version"], "metric": row["metric"],
            "value": _number(row["metric_value"], ".4f"), "params": _params(row["params"]),
            "gflops": _number(row["gflops"], ".3g"), "size_mb": _number(row["size_mb"], ".2f"),
            "p50": _number(row["latency_p50_ms"], ".3g"), "p90": _number(row["latency_p90_ms"], ".3g"),
            "throughput": _number(row["throughput_b32"], ".1f"), "threads": row["threads"],
            "date": row["date"], "command": row["command"], "link": _repo_link(row), "front": star,
            "split": row["split"], "samples": row["samples"]}


def page_values(ctx: Ctx, repo_id: str, column: str, order: str) -> dict[str, Any]:
    """The template values of ``leaderboard.html`` (worker thread)."""
    found = read_rows(ctx, repo_id)
    errors = list(found["errors"])
    groups = []
    found_groups = sorted(results.groups(found["rows"]).items())
    if len(found_groups) > MAX_GROUPS:
        errors.append(f"{len(found_groups)} task/dataset/machine groups; the first {MAX_GROUPS} are shown")
    for (task, dataset, machine), rows in found_groups[:MAX_GROUPS]:
        caption = f"{task} · {dataset} · {machine}"
        try:
            groups.append(_group(task, dataset, machine, caption, rows, column, order))
        except (ArithmeticError, ValueError) as exc:  # numbers no check foresaw: this group, not the page
            errors.append(f"{caption}: cannot be drawn ({type(exc).__name__}: {exc})")
    return {**found, "errors": errors, "groups": groups, "board": repo_id, "default_board": DEFAULT_REPO,
            "sort": column, "order": order}


def _group(task: str, dataset: str, machine: str, caption: str, rows: list[dict], column: str,
           order: str) -> dict[str, Any]:
    front = results.pareto(rows)
    on_front = {id(r) for r in front}
    metrics = sorted({r["metric"] for r in rows})
    return {"task": task, "dataset": dataset, "machine": machine, "caption": caption,
            "metric": metrics[0] if len(metrics) == 1 else None,
            "rows": [table_row(r, id(r) in on_front) for r in sorted_rows(rows, column, order)],
            "plot": plot.scatter(rows, front, caption)}


def header_links(column: str, order: str) -> dict[str, str]:
    """Each sortable header's link: the current column flips its order, another starts at its better end."""
    def link(name: str) -> str:
        to = ("asc" if order == "desc" else "desc") if name == column else SORTS[name]
        return f"?sort={name}&order={to}"

    return {name: link(name) for name in SORTS}


async def leaderboard(ctx: Ctx) -> Response:
    from .pages import _page

    column, order = sort_choice(ctx.query)
    repo_id = board_id(ctx)
    values = await ctx.run(page_values, ctx, repo_id, column, order)
    return _page(ctx, "leaderboard.html", links=header_links(column, order), **values)


def check_board_id(repo_id: str) -> str:
    """``hub serve --leaderboard``'s value, refused at start (one line) when it is no ``namespace/name``."""
    from ..errors import ServerError
    from ..repos import RepoStore

    try:
        RepoStore.check_repo_id(repo_key("dataset", repo_id))
    except ServerError as exc:
        raise ValueError(f"--leaderboard: {exc.message} (the leaderboard's dataset repo, e.g. {DEFAULT_REPO})") from None
    return repo_id
