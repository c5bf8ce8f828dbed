"""`hub serve gc`: what no commit references goes, nothing referenced ever does (server running).

Each test runs its own server over its own folder (gc weighs the whole folder), with the stock client
uploading through classic LFS and through Xet.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from hub.cli import cli
from hub.server.gc import collect
from hub.server.serving import start_background

from .conftest import use_xet

TOKENS = {"alice-token": "alice"}


@pytest.fixture
def hub(tmp_path: Path):
    handle = start_background(tmp_path / "data", tokens=TOKENS)
    yield handle, HfApi(endpoint=handle.url, token="alice-token")
    handle.stop()


def _stored(data: Path) -> tuple[int, int]:
    count = lambda sub: sum(1 for p in (data / sub).rglob("*") if p.is_file())  # noqa: E731
    return count("lfs/objects"), count("xet/xorbs")


def _get(server, path: str) -> bytes:
    r = httpx.get(f"{server.url}/{path}", headers={"authorization": "Bearer alice-token"}, follow_redirects=True)
    assert r.status_code == 200, (path, r.status_code, r.headers.get("x-error-message"))
    return r.content


def test_gc_removes_deleted_repos_and_branches_and_keeps_every_reachable_file(hub, monkeypatch, tmp_path) -> None:
    server, api = hub
    keep, old, gone, branch, xkeep, xgone = (os.urandom(200_000) for _ in range(6))
    api.create_repo("alice/keep")
    api.upload_file(path_or_fileobj=old, path_in_repo="old.bin", repo_id="alice/keep")
    api.create_tag("alice/keep", tag="v1")
    api.delete_file("old.bin", repo_id="alice/keep")  # still in history and under a tag: kept
    api.upload_file(path_or_fileobj=keep, path_in_repo="keep.bin", repo_id="alice/keep")
    api.create_branch("alice/keep", branch="tmp")
    api.upload_file(path_or_fileobj=branch, path_in_repo="branch.bin", repo_id="alice/keep", revision="tmp")
    api.delete_branch("alice/keep", branch="tmp")
    api.create_repo("alice/gone", repo_type="dataset")
    api.upload_file(path_or_fileobj=gone, path_in_repo="gone.bin", repo_id="alice/gone", repo_type="dataset")
    api.delete_repo("alice/gone", repo_type="dataset")
    use_xet(monkeypatch, tmp_path)
    api.upload_file(path_or_fileobj=xkeep, path_in_repo="xkeep.bin", repo_id="alice/keep")
    api.create_repo("alice/xgone")
    api.upload_file(path_or_fileobj=xgone, path_in_repo="xgone.bin", repo_id="alice/xgone")
    api.delete_repo("alice/xgone")
    data = server.data_dir
    before = _stored(data)
    assert before[0] == 4 and before[1] >= 2, before  # keep, old, branch, gone as LFS; xkeep, xgone as xorbs

    dry = collect(data, dry_run=True, grace=0)
    assert _stored(data) == before  # a dry run removes nothing
    assert (dry.lfs.removed, dry.lfs.kept) == (2, 2) and dry.lfs.removed_bytes == 400_000
    assert (dry.xet_files.removed, dry.xet_files.kept) == (1, 1) and dry.xorbs.removed >= 1 and dry.xorbs.kept >= 1
    real = collect(data, grace=0)
    assert real.as_dict() == {**dry.as_dict(), "dry_run": False}
    assert _stored(data) == (2, before[1] - real.xorbs.removed)
    assert _get(server, "alice/keep/resolve/main/keep.bin") == keep
    assert _get(server, "alice/keep/resolve/v1/old.bin") == old
    assert _get(server, "alice/keep/resolve/main/xkeep.bin") == xkeep
    again = collect(data, grace=0)
    assert again.lfs.removed == again.xet_files.removed == again.xorbs.removed == 0
    assert again.lfs.kept == 2 and again.xet_files.kept == 1


def test_gc_keeps_an_upload_in_flight_and_a_commit_never_references_a_removed_object(hub) -> None:
    server, api = hub
    api.create_repo("alice/flight")
    first = CommitOperationAdd(path_in_repo="a.bin", path_or_fileobj=os.urandom(100_000))
    api.preupload_lfs_files("alice/flight", additions=[first])  # uploaded, not committed yet
    assert collect(server.data_dir).lfs.removed == 0  # younger than the grace period: kept
    api.create_commit("alice/flight", operations=[first], commit_message="a")
    assert len(_get(server, "alice/flight/resolve/main/a.bin")) == 100_000

    second = CommitOperationAdd(path_in_repo="b.bin", path_or_fileobj=os.urandom(100_000))
    api.preupload_lfs_files("alice/flight", additions=[second])
    head = api.model_info("alice/flight").sha
    assert collect(server.data_dir, grace=0).lfs.removed == 1  # no grace: the uncommitted upload goes
    with pytest.raises(HfHubHTTPError) as err:  # ... and its commit is refused, not landed dangling
        api.create_commit("alice/flight", operations=[second], commit_message="b")
    assert err.value.response.status_code == 400 and "was not uploaded" in err.value.response.headers["x-error-message"]
    assert api.model_info("alice/flight").sha == head


def test_commits_during_gc_all_land_and_stay_whole(hub) -> None:
    server, api = hub
    api.create_repo("alice/busy")
    payloads = {f"f{i}.bin": os.urandom(50_000) for i in range(6)}
    errors: list[BaseException] = []

    def commit(name: str) -> None:
        try:
            api.upload_file(path_or_fileobj=payloads[name], path_in_repo=name, repo_id="alice/busy")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(name,)) for name in payloads]
    for t in threads:
        t.start()
    reports = [collect(server.data_dir) for _ in range(3)]  # default grace, as an operator runs it
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(r.lfs.removed == 0 for r in reports)
    for name, data in payloads.items():
        assert _get(server, f"alice/busy/resolve/main/{name}") == data


def test_the_gc_command_reports_and_refuses_a_folder_that_is_not_a_hub(hub, tmp_path) -> None:
    server, api = hub
    api.create_repo("alice/cli")
    api.upload_file(path_or_fileobj=os.urandom(10_000), path_in_repo="x.bin", repo_id="alice/cli")
    api.delete_repo("alice/cli")
    done = CliRunner().invoke(cli, ["serve", "gc", "--data", str(server.data_dir), "--dry-run", "--grace", "0"])
    assert done.exit_code == 0, done.output
    assert "LFS objects: would remove 1 (" in done.output and _stored(server.data_dir)[0] == 1
    done = CliRunner().invoke(cli, ["serve", "gc", "--data", str(server.data_dir), "--grace", "0"])
    assert done.exit_code == 0 and "LFS objects: removed 1 (" in done.output, done.output
    assert _stored(server.data_dir)[0] == 0
    bad = CliRunner().invoke(cli, ["serve", "gc", "--data", str(tmp_path / "nowhere")])
    assert bad.exit_code == 1 and "is not a hub serve data folder" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    bad = CliRunner().invoke(cli, ["serve", "gc", "--data", str(server.data_dir), "--storage", "bucket-without-scheme"])
    assert bad.exit_code == 1 and "use s3://BUCKET[/PREFIX]" in bad.output and len(bad.output.strip().splitlines()) == 1


def test_a_commit_waits_for_gc_and_then_sees_what_gc_removed(hub) -> None:
    """The gc lock, without timing luck: gc holds it while it deletes, a commit arriving then waits,
    then finds its object gone and is refused (without the lock it would land a dangling pointer)."""
    from hub.server.gc import exclusive

    server, api = hub
    api.create_repo("alice/race")
    op = CommitOperationAdd(path_in_repo="r.bin", path_or_fileobj=os.urandom(20_000))
    api.preupload_lfs_files("alice/race", additions=[op])
    outcome: list[object] = []

    def commit() -> None:
        try:
            outcome.append(api.create_commit("alice/race", operations=[op], commit_message="r"))
        except HfHubHTTPError as exc:
            outcome.append(exc)

    with exclusive(server.data_dir):
        worker = threading.Thread(target=commit)
        worker.start()
        worker.join(1.5)  # the commit reaches the server and queues on the lock
        assert worker.is_alive() and not outcome, "the commit did not wait for gc"
        for path in (server.data_dir / "lfs" / "objects").rglob("*"):
            if path.is_file():
                path.unlink()  # what gc's sweep does to an unreferenced object
    worker.join(30)
    assert isinstance(outcome[0], HfHubHTTPError) and outcome[0].response.status_code == 400, outcome
