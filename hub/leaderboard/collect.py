"""``hub zoo bench``: run zoo entries' jobs, measure their exports, and keep one CSV per machine.

Each entry runs the same job ``hub run ENTRY`` runs (train, export + gate, publish, verify), into
``OUT/ENTRY``; the stage log makes a second ``hub zoo bench`` reuse every stage whose inputs did not
change, so only the timing is repeated. Rows are merged into ``OUT/results/<machine>.csv`` (an entry's
old rows on this machine are replaced, other rows kept) and, when publishing, into the same file of the
hub's leaderboard dataset repo, so two people benchmarking on two machines never overwrite each other.
"""

from __future__ import annotations

import json
import logging
import shlex
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HubError
from ..fsutil import atomic_write_text
from ..runtime.machine import describe
from . import results

log = logging.getLogger(__name__)




@dataclass
class Collected:
    rows: list[dict[str, Any]] = field(default_factory=list)  # measured in this call
    csv_path: Path | None = None
    failed: dict[str, str] = field(default_factory=dict)  # entry -> one-line reason
    published: str | None = None  # "repo@commit" of the leaderboard CSV
    publish_error: str | None = None  # the rows are measured and written locally, but not on the hub
    private: list[str] = field(default_factory=list)  # entries published privately: rows kept local only
    skipped: dict[str, str] = field(default_factory=dict)  # entries --all left out, and why


def runnable(catalogue: Any) -> tuple[list[str], dict[str, str]]:
    """What ``--all`` means: every entry ``hub run`` can run; pre-training entries have no classifier to time."""
    names, skipped = [], {}
    for name in catalogue.entries:
        if "pretrain" in catalogue.raw[name]:
            skipped[name] = "a pre-training entry (`hub pretrain`): no classifier to time"
        else:
            names.append(name)
    return names, skipped


def bench_entries(catalogue: Any, names: Sequence[str], out: Path, registry: Any, *, threads: int = 2,
                  iters: int = 50, publish: bool = True, endpoint: str | None = None,
                  leaderboard_repo: str = results.LEADERBOARD_REPO, command: str = "hub zoo bench",
                  zoo_path: str | None = None, note: Callable[[str], None] = log.info) -> Collected:
    """Run, measure and record ``names``; an entry that fails is reported and the others go on. Rows are
    written after each entry, so an interrupted bench keeps what it measured."""
    out = Path(out)
    done = Collected()
    slug = results.machine_slug(describe()["cpu"], threads)
    done.csv_path = out / "results" / f"{slug}.csv"
    board = _read_local(done.csv_path)  # a damaged CSV is one error before hours of jobs, not after
    for name in names:
        try:
            rows, private = _bench_one(catalogue, name, out, registry, threads, iters, publish, endpoint, command,
                                       zoo_path, note)
        except HubError as exc:
            done.failed[name] = str(exc).splitlines()[0]
        except Exception as exc:  # one entry's bug must not cost the others' measurements
            log.debug("%s failed", name, exc_info=True)
            done.failed[name] = f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        else:
            done.rows += rows
            if private:
                done.private.append(name)
            board = results.merge(board, _parsed(rows))
            done.csv_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(done.csv_path, results.to_csv(board))
            continue
        note(f"{name}: FAILED: {done.failed[name]}")
    shared = [r for r in done.rows if r["entry"] not in done.private]
    if publish and shared:
        try:
            done.published = publish_rows(shared, slug, leaderboard_repo, endpoint)
            note(f"leaderboard -> {done.published}")
        except HubError as exc:
            done.publish_error = str(exc).splitlines()[0]
    return done


def _bench_one(catalogue, name, out, registry, threads, iters, publish, endpoint, command, zoo_path, note):
    from ..pipeline import run
    from ..pipeline_ensemble import runner_for
    from .measure import measure_export

    recipe = catalogue.recipe(name, registry)
    note(f"{name}: job")
    runner = runner_for(name, zoo_path, ()) or run  # an ensemble entry trains each member first
    outcome = runner(recipe, registry, out / name, publish=publish, endpoint=endpoint, progress=False,
                     on_stage=lambda message: note(f"{name}: {message}"))
    pushed = outcome.push
    note(f"{name}: timing {', '.join(['eager', *outcome.report.get('kept', [])])} ({threads} threads)")
    rows = measure_export(outcome.export_dir, entry=name, threads=threads, iters=iters,
                          repo=pushed.repo_id if pushed else "", repo_commit=pushed.commit_sha if pushed else "",
                          revision=_data_revision(out / name),
                          command=shlex.join([*shlex.split(command), name, "--threads", str(threads),
                                              "--iters", str(iters)]))
    return rows, bool(recipe.publish.private)


def _data_revision(job_dir: Path) -> str:
    """The fingerprint of the data the entry trained and was gated on (every split's bytes, labels too;
    a pinned hub dataset's commit is part of it): what "dataset revision" means for built-in data too."""
    try:
        stages = json.loads((job_dir / "stages.json").read_text())
        return str(stages["stages"]["train"]["inputs"]["data"])[:12]
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _parsed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as they read back from the CSV (numbers rounded, lists joined): what merge compares."""
    return results.from_csv(results.to_csv(rows), "measured rows")


def _read_local(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return results.from_csv(path.read_text(encoding="utf-8"), str(path))


def publish_rows(rows: Sequence[dict[str, Any]], slug: str, repo_id: str, endpoint: str | None) -> str:
    """Merge ``rows`` into ``results/<slug>.csv`` of the hub's leaderboard dataset repo (created if needed).

    Read and written against one commit (``parent_commit``): a push by someone else in between is a
    refused commit, and the merge is redone on theirs, never a silent loss of their rows. Only a file
    that does not exist at that commit counts as empty; a file that cannot be read stops the push."""

    from ..publish.client import resolve_target, status_of, with_retries
    from ..publish.files import PublishError

    target = resolve_target(endpoint)
    api = target.api()
    what = f"leaderboard push to {repo_id}"
    with_retries(lambda: api.create_repo(repo_id, repo_type="dataset", exist_ok=True), target=target, what=what)
    for attempt in range(3):
        try:
            return _merge_and_commit(api, target, rows, slug, repo_id, what)
        except PublishError as exc:
            if status_of(exc) != 412 or attempt == 2:  # 412: the file's commit moved since it was read
                raise
            log.info("%s: the file changed meanwhile; merging again", what)
    raise AssertionError("unreachable")


def _merge_and_commit(api: Any, target: Any, rows: Sequence[dict[str, Any]], slug: str, repo_id: str,
                      what: str) -> str:
    from huggingface_hub import CommitOperationAdd

    from ..publish.client import with_retries
    from ..publish.files import PublishError

    path_in_repo = f"results/{slug}.csv"
    head = with_retries(lambda: api.dataset_info(repo_id).sha, target=target, what=what)
    present = path_in_repo in with_retries(lambda: api.list_repo_files(repo_id, repo_type="dataset", revision=head),
                                           target=target, what=what)
    old: list[dict[str, Any]] = []
    if present:
        with tempfile.TemporaryDirectory(prefix="hub-leaderboard-") as tmp:
            local = with_retries(lambda: api.hf_hub_download(repo_id, path_in_repo, repo_type="dataset",
                                                             revision=head, local_dir=tmp), target=target, what=what)
            try:
                old = results.from_csv(Path(local).read_text(encoding="utf-8-sig"), f"{repo_id}/{path_in_repo}")
            except (results.LeaderboardError, UnicodeDecodeError) as exc:
                raise PublishError(f"{what}: the hub's {path_in_repo} cannot be merged into ({exc}); fix or delete "
                                   "it there, then run again (nothing was pushed)") from None
    text = results.to_csv(results.merge(old, _parsed(rows)))
    operations = [CommitOperationAdd(path_in_repo, text.encode()),
                  CommitOperationAdd("README.md", _card(repo_id).encode())]
    info = with_retries(lambda: api.create_commit(repo_id, operations, repo_type="dataset", parent_commit=head,
                                                  commit_message=f"Leaderboard: {slug} ({len(rows)} rows)"),
                        target=target, what=what)
    return f"{repo_id}@{info.oid}"


def _card(repo_id: str) -> str:
    return ("---\ntags:\n- leaderboard\n- zoohub\nconfigs:\n- config_name: default\n  data_files: results/*.csv\n"
            f"---\n\n# {repo_id}\n\nAccuracy x latency of the zoo's entries, one CSV per machine "
            "(`results/<cpu>-<threads>t.csv`), written by `hub zoo bench`. Each row says the exact command "
            "that reproduces it. Latencies are comparable only within one file. Browse it on the hub's "
            "`/leaderboard` page; pick a model for a budget with `hub zoo pick`.\n")
