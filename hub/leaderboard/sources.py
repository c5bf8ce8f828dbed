"""Where ``hub zoo pick`` reads the leaderboard: a CSV file, a folder of them, or the hub's dataset repo."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .results import LEADERBOARD_REPO, MAX_BYTES, LeaderboardError, from_csv

DEFAULT_FOLDER = Path("zoo-bench")


def load_rows(source: str | None = None, endpoint: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Rows and where they came from. Default: ``./zoo-bench/results/*.csv`` when ``hub zoo bench`` wrote
    it here, else the hub's ``zoo/leaderboard`` repo (what a teammate published)."""
    if source is None:
        local = DEFAULT_FOLDER / "results"
        source = str(local) if any(local.glob("*.csv")) else LEADERBOARD_REPO
    path = Path(source)
    if path.is_file():
        return from_csv(_read(path), str(path)), str(path)
    if path.is_dir():
        files = (sorted(path.glob("*.csv")) or sorted((path / "results").glob("*.csv")))[:MAX_FILES]
        if not files:
            raise LeaderboardError(f"{path}: no *.csv (nor results/*.csv) here; run `hub zoo bench --out {path}`")
        return [row for f in files for row in from_csv(_read(f), str(f))], str(path)
    if source.count("/") == 1 and not source.endswith((".csv", "/")):
        return _from_hub(source, endpoint), source
    raise LeaderboardError(f"{source}: no such file or folder, and not a NAMESPACE/NAME repo id; pass a "
                           "leaderboard CSV, a folder `hub zoo bench` wrote, or a dataset repo")


MAX_FILES = 200


def _read(path: Path) -> str:
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:  # utf-8-sig: a spreadsheet's BOM
        return fh.read(MAX_BYTES + 1)


def _from_hub(repo_id: str, endpoint: str | None) -> list[dict[str, Any]]:
    from huggingface_hub import errors as hf

    from ..publish.client import resolve_target, translate

    target = resolve_target(endpoint)
    api = target.api()
    try:
        names = [f for f in api.list_repo_files(repo_id, repo_type="dataset")
                 if f.startswith("results/") and f.endswith(".csv") and f.count("/") == 1][:MAX_FILES]
    except hf.RepositoryNotFoundError:
        raise LeaderboardError(f"{repo_id}: no leaderboard at {target.endpoint}; run `hub zoo bench --all` "
                               "to measure and publish one") from None
    except Exception as exc:
        raise translate(exc, target, f"read leaderboard {repo_id}") from None
    if not names:
        raise LeaderboardError(f"{repo_id} at {target.endpoint} has no results/*.csv; run `hub zoo bench --all`")
    rows = []
    with tempfile.TemporaryDirectory(prefix="hub-leaderboard-") as tmp:
        for name in names:
            try:
                local = api.hf_hub_download(repo_id, name, repo_type="dataset", local_dir=tmp)
            except Exception as exc:
                raise translate(exc, target, f"read {repo_id}/{name}") from None
            rows += from_csv(_read(Path(local)), f"{repo_id}/{name}")
    return rows
