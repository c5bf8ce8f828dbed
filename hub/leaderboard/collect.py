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
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HubError
from ..fsutil import atomic_write_text
from . import results

log = logging.getLogger(__name__)

LEADERBOARD_REPO = "zoo/leaderboard"


@dataclass
class Collected:
    rows: list[dict[str, Any]] = field(default_factory=list)  # measured in this call
    csv_path: Path | None = None
    failed: dict[str, str] = field(default_factory=dict)  # entry -> one-line reason
    published: str | None = None  # "repo@commit" of the leaderboard CSV


def bench_entries(catalogue: Any, names: Sequence[str], out: Path, registry: Any, *, threads: int = 2,
                  iters: int = 50, publish: bool = True, endpoint: str | None = None,
                  leaderboard_repo: str = LEADERBOARD_REPO, command: str = "hub zoo bench",
                  zoo_path: str | None = None, note: Callable[[str], None] = log.info) -> Collected:
    """Run, measure and record ``names``; an entry that fails is reported and the others go on."""
    from ..pipeline import run
    from ..pipeline_ensemble import runner_for
    from .measure import measure_export

    out = Path(out)
    done = Collected()
    for name in names:
        try:
            recipe = catalogue.recipe(name, registry)
            note(f"{name}: job")
            runner = runner_for(name, zoo_path, ()) or run  # an ensemble entry trains each member first
            outcome = runner(recipe, registry, out / name, publish=publish, endpoint=endpoint, progress=False,
                             on_stage=lambda message, n=name: note(f"{n}: {message}"))
            pushed = outcome.push
            note(f"{name}: timing {', '.join(['eager', *outcome.report.get('kept', [])])} ({threads} threads)")
            done.rows += measure_export(
                outcome.export_dir, entry=name, threads=threads, iters=iters,
                repo=pushed.repo_id if pushed else "", repo_commit=pushed.commit_sha if pushed else "",
                revision=_data_revision(out / name), command=f"{command} {name} --threads {threads}")
        except HubError as exc:
            done.failed[name] = str(exc).splitlines()[0]
            note(f"{name}: FAILED: {done.failed[name]}")
    if not done.rows:
        return done
    slug = results.machine_slug(done.rows[0]["cpu"], threads)
    done.csv_path = out / "results" / f"{slug}.csv"
    old = _read_local(done.csv_path)
    done.csv_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(done.csv_path, results.to_csv(results.merge(old, _parsed(done.rows))))
    if publish:
        done.published = publish_rows(done.rows, slug, leaderboard_repo, endpoint)
        note(f"leaderboard -> {done.published}")
    return done


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
    """Merge ``rows`` into ``results/<slug>.csv`` of the hub's leaderboard dataset repo (created if needed)."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub import errors as hf

    from ..publish.client import resolve_target, translate, with_retries

    target = resolve_target(endpoint)
    api = target.api()
    path_in_repo = f"results/{slug}.csv"
    what = f"leaderboard push to {repo_id}"
    with_retries(lambda: api.create_repo(repo_id, repo_type="dataset", exist_ok=True), target=target, what=what)
    old: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hub-leaderboard-") as tmp:
        try:
            local = api.hf_hub_download(repo_id, path_in_repo, repo_type="dataset", local_dir=tmp)
            old = results.from_csv(Path(local).read_text(encoding="utf-8"), f"{repo_id}/{path_in_repo}")
        except hf.EntryNotFoundError:
            pass
        except results.LeaderboardError as exc:
            log.warning("%s; its rows are replaced by this machine's", exc)
        except Exception as exc:
            raise translate(exc, target, what) from None
    text = results.to_csv(results.merge(old, _parsed(rows)))
    operations = [CommitOperationAdd(path_in_repo, text.encode()),
                  CommitOperationAdd("README.md", _card(repo_id).encode())]
    info = with_retries(lambda: api.create_commit(repo_id, operations, repo_type="dataset",
                                                  commit_message=f"Leaderboard: {slug} ({len(rows)} rows)"),
                        target=target, what=what)
    return f"{repo_id}@{info.oid}"


def _card(repo_id: str) -> str:
    return ("---\ntags:\n- leaderboard\n- zoohub\nconfigs:\n- config_name: default\n  data_files: results/*.csv\n"
            f"---\n\n# {repo_id}\n\nAccuracy x latency of the zoo's entries, one CSV per machine "
            "(`results/<cpu>-<threads>t.csv`), written by `hub zoo bench`. Each row says the exact command "
            "that reproduces it. Latencies are comparable only within one file. Browse it on the hub's "
            "`/leaderboard` page; pick a model for a budget with `hub zoo pick`.\n")
