"""``hub serve --workers N``: several real server processes over one data folder and one socket.

Everything here is real: ``python -m hub serve --workers 4`` as a child process, the stock HfApi
client in threads, git on the bare repos. Which worker answered is read from the ``X-Hub-Worker``
header; the kernel spreads fresh connections over the workers, so a loop of requests without
keep-alive reaches several of them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from hub.server.runstate import alive, read_state
from hub.server.serving import start_background

from .conftest import use_xet

TOKENS = {"alice-token": "alice", "bob-token": "bob"}
WORKERS = 4


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("workers-data")
    handle = start_background(data, tokens=TOKENS, workers=WORKERS)
    yield handle
    handle.stop()


def _fresh(method: str, url: str, *, cookies: dict | None = None, **kwargs) -> httpx.Response:
    """One request on its own connection (no keep-alive), so the kernel may hand it to any worker."""
    with httpx.Client(timeout=30, headers={"connection": "close"}, cookies=cookies) as client:
        return client.request(method, url, **kwargs)


def _spread(method: str, url: str, *, want: int = WORKERS, rounds: int = 15, **kwargs) -> list[httpx.Response]:
    """Bursts of 8 concurrent fresh-connection requests until ``want`` distinct workers answered (or
    ``rounds`` ran out): while one worker is busy the kernel hands the next connection to another."""
    answers: list[httpx.Response] = []
    with ThreadPoolExecutor(8) as pool:
        for _ in range(rounds):
            answers += pool.map(lambda _: _fresh(method, url, **kwargs), range(8))
            if len({r.headers.get("x-hub-worker") for r in answers}) >= want:
                break
    return answers


def _workers(answers: list[httpx.Response]) -> set[str]:
    return {r.headers["x-hub-worker"] for r in answers}


def test_twenty_concurrent_commits_across_four_workers_none_lost(team) -> None:
    api = HfApi(endpoint=team.url, token="alice-token")
    shared = f"alice/shared-{uuid.uuid4().hex[:6]}"
    others = [f"alice/r{i}-{uuid.uuid4().hex[:6]}" for i in range(4)]
    for repo in [shared, *others]:
        api.create_repo(repo)
    jobs = [(shared if i < 10 else others[i % 4], i) for i in range(20)]  # 10 on one repo, 10 over four

    def commit(job: tuple[str, int]) -> tuple[str, int, dict[str, bytes]]:
        repo, i = job
        files = {f"f{i}.txt": f"file {i}\n".encode()}
        if i % 3 == 0:  # *.bin goes to LFS: batch API, signed upload URL (any worker may answer each step)
            files[f"w{i}.bin"] = os.urandom(2048 + i)
        HfApi(endpoint=team.url, token="alice-token").create_commit(
            repo, [CommitOperationAdd(p, b) for p, b in files.items()], commit_message=f"commit {i}")
        return repo, i, files

    with ThreadPoolExecutor(20) as pool:
        done = list(pool.map(commit, jobs))

    for repo in [shared, *others]:
        titles = {c.title for c in api.list_repo_commits(repo)}
        present = set(api.list_repo_files(repo))
        for r, i, files in done:
            if r == repo:
                assert f"commit {i}" in titles, (repo, i)
                assert set(files) <= present, (repo, i, sorted(present))
    repo, i, files = next(d for d in done if len(d[2]) == 2)
    lfs = next(p for p in files if p.endswith(".bin"))
    assert _fresh("GET", f"{team.url}/{repo}/resolve/main/{lfs}").content == files[lfs]

    bare = sorted((team.data_dir / "repos").rglob("*.git"))
    assert len(bare) >= 5
    for git_dir in bare:
        fsck = subprocess.run(["git", "--git-dir", str(git_dir), "fsck", "--full", "--strict"],
                              capture_output=True, text=True)
        assert fsck.returncode == 0 and "error" not in fsck.stderr.lower(), (git_dir, fsck.stderr)


def _sign_in(url: str) -> tuple[str, str]:
    client = httpx.Client(base_url=url, headers={"connection": "close"})
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = client.post("/login", data={"token": "alice-token", "csrf": csrf})
    assert done.status_code == 303
    cookie = client.cookies["hub_session"]
    page = client.get("/")
    session_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return cookie, session_csrf


def test_a_web_session_holds_on_every_worker_and_a_worker_restart_and_sign_out_ends_it(team) -> None:
    api = HfApi(endpoint=team.url, token="alice-token")
    private = f"alice/private-{uuid.uuid4().hex[:6]}"
    api.create_repo(private, private=True)
    cookie, csrf = _sign_in(team.url)
    page = f"{team.url}/{private}"

    signed_in = _spread("GET", page, cookies={"hub_session": cookie})
    assert all(r.status_code == 200 for r in signed_in) and len(_workers(signed_in)) >= 2
    assert _fresh("GET", page).status_code == 404  # without the cookie the private repo does not exist

    victim = read_state(team.data_dir)["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)  # a worker dies: the supervisor starts another, sessions live in DATA
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = [w["pid"] for w in (read_state(team.data_dir) or {}).get("workers", [])]
        if victim not in pids and len(pids) == WORKERS and all(alive(p) for p in pids):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the killed worker was not replaced")
    again = _spread("GET", page, cookies={"hub_session": cookie})
    assert all(r.status_code == 200 for r in again)

    out = _fresh("POST", f"{team.url}/logout", data={"csrf": csrf}, cookies={"hub_session": cookie})
    assert out.status_code == 303
    after = _spread("GET", page, cookies={"hub_session": cookie})
    assert all(r.status_code == 404 for r in after) and len(_workers(after)) >= 2


def test_a_xet_token_from_one_worker_is_accepted_by_the_others(team) -> None:
    api = HfApi(endpoint=team.url, token="alice-token")
    repo = f"alice/xet-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo)
    issued = _fresh("GET", f"{team.url}/api/models/{repo}/xet-write-token/main",
                    headers={"authorization": "Bearer alice-token"})
    assert issued.status_code == 200
    token, issuer = issued.json()["accessToken"], issued.headers["x-hub-worker"]
    chunk = f"{team.url}/api/xet/v1/chunks/default-merkledb/{'ab' * 32}"
    answers = _spread("GET", chunk, headers={"authorization": f"Bearer {token}"})
    assert {r.status_code for r in answers} == {404}  # a valid token: the chunk is simply unknown
    assert _workers(answers) - {issuer}, "no other worker was reached"
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert _fresh("GET", chunk, headers={"authorization": f"Bearer {forged}"}).status_code == 401


def test_xet_uploads_through_four_workers_round_trip(team, monkeypatch, tmp_path) -> None:
    """hf_xet as installed: tokens, xorbs, shards and the commit of one upload may each reach another worker."""
    from huggingface_hub import hf_hub_download

    use_xet(monkeypatch, tmp_path)
    api = HfApi(endpoint=team.url, token="alice-token")
    repo = f"alice/xetw-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo)
    blobs = {f"x{i}.bin": os.urandom(1_500_000 + i) for i in range(4)}

    def upload(item: tuple[str, bytes]) -> None:
        HfApi(endpoint=team.url, token="alice-token").upload_file(path_or_fileobj=item[1], path_in_repo=item[0],
                                                                  repo_id=repo)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(upload, blobs.items()))
    assert any((team.data_dir / "xet" / "xorbs").rglob("*")), "not uploaded through Xet"
    for name, data in blobs.items():
        got = hf_hub_download(repo, name, endpoint=team.url, cache_dir=tmp_path / "dl")
        assert Path(got).read_bytes() == data, name


def test_a_second_independent_server_on_the_folder_is_refused_with_one_line(team) -> None:
    run = subprocess.run([sys.executable, "-m", "hub", "serve", "--data", str(team.data_dir), "--port", "0"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "HUB_SERVE_TOKENS": ""})
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert "already using" in lines[0] and str(team.data_dir) in lines[0]


def test_status_lists_the_workers_and_storage_and_stop_stops_them_all(tmp_path, capsys) -> None:
    from hub.cli import main as cli_main

    data = tmp_path / "data"
    handle = start_background(data, tokens=TOKENS, workers=2)
    try:
        api = HfApi(endpoint=handle.url, token="alice-token")
        api.create_repo("alice/stats")
        api.upload_file(path_or_fileobj=os.urandom(3000), path_in_repo="w.bin", repo_id="alice/stats")
        assert cli_main(["serve", "status", "--data", str(data), "--json"]) == 0
        state = json.loads(capsys.readouterr().out)
        assert state["running"] and state["pid"] == handle.pid and len(state["workers"]) == 2
        assert state["storage"]["repos"] == 1 and state["storage"]["lfs_objects"] == 1
        assert state["storage"]["lfs_bytes"] == 3000
        assert cli_main(["serve", "status", "--data", str(data)]) == 0
        text = capsys.readouterr().out
        assert "workers: 2" in text and "1 repos, 1 LFS objects (3.0 KB)" in text
        assert cli_main(["serve", "stop", "--data", str(data)]) == 0
        assert "stopped hub serve" in capsys.readouterr().out
        assert not alive(handle.pid) and not any(alive(p) for p in state["workers"])
        assert read_state(data) is None
        assert cli_main(["serve", "status", "--data", str(data)]) == 0 and "not running" in capsys.readouterr().out
    finally:
        handle.stop()


def _gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_idle_means_no_request_on_any_worker_and_then_all_stop(tmp_path) -> None:
    from hub.server.workers import ProcessHandle

    handle = ProcessHandle(tmp_path / "data", TOKENS, None, 2, "127.0.0.1", 0, ["--idle-timeout", "2"]).start(60)
    try:
        pids = [handle.pid, *(w["pid"] for w in read_state(tmp_path / "data")["workers"])]
        seen = set()
        for _ in range(8):  # 4 s of requests, twice the idle timeout: the server stays
            seen.add(_fresh("GET", f"{handle.url}/api/whoami-v2").headers["x-hub-worker"])
            time.sleep(0.5)
        # Spaced requests mostly reach one worker, so the other sat idle for 4 s: busy anywhere is busy.
        assert alive(handle.pid) and all(alive(p) for p in pids) and seen
        assert _gone(pids, 30), "the workers outlived the idle timeout"
        assert "no request for 2 s" in handle.log.read_text()
    finally:
        handle.stop()


def test_a_deleted_data_folder_stops_every_worker(tmp_path) -> None:
    import shutil

    data = tmp_path / "data"
    handle = start_background(data, tokens=TOKENS, workers=2)
    try:
        pids = [handle.pid, *(w["pid"] for w in read_state(data)["workers"])]
        shutil.rmtree(data)
        assert _gone(pids, 30), "workers outlived their deleted data folder"
    finally:
        handle.stop()


def test_ctrl_c_stops_every_worker_cleanly(tmp_path) -> None:
    data = tmp_path / "data"
    handle = start_background(data, tokens=TOKENS, workers=2)
    try:
        pids = [handle.pid, *(w["pid"] for w in read_state(data)["workers"])]
        os.killpg(handle.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
        assert handle.proc.wait(30) == 0
        assert _gone(pids, 10) and read_state(data) is None
        assert "Traceback" not in handle.log.read_text()
    finally:
        handle.stop()


def test_a_worker_that_cannot_start_stops_the_server_with_its_reason(tmp_path) -> None:
    """A worker handed the lock of another folder refuses to serve; the supervisor says so, nothing keeps running."""
    from hub.server.datadir import lock_data_dir
    from hub.server.serving import _bind
    from hub.server.workers import Supervisor, WorkerFailed, WorkerSpec

    lock = lock_data_dir(tmp_path / "a")
    sock = _bind("127.0.0.1", 0)
    supervisor = Supervisor(WorkerSpec(tmp_path / "b", {}), sock, lock, 1)
    try:
        with pytest.raises(WorkerFailed, match=r"worker 0 did not start \(exit code 3\)"):
            supervisor.start(timeout=60)
        assert not any(alive(p) for p in supervisor.pids())
    finally:
        sock.close()
        lock.close()
