"""Fault injection for `hub serve`: kill -9 mid-upload and mid-commit, concurrent commits, full disk.

The server under fault runs as a real child process (``hub.testing.serve.ServerProcess``) and is
killed with SIGKILL, so no clean-up of any kind runs. After each restart the repo must be what some
acknowledged request made it: ``git fsck`` clean, the branch at the old commit or at the complete
new one, every file served byte for byte, no half-stored LFS object ever reachable, and the
client's retry ending with the full commit (or none, if the first attempt had in fact landed).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from hub.testing.serve import ServerProcess, commit_body

AUTH = {"authorization": "Bearer alice-token"}
TOKENS = {"alice-token": "alice"}
REPO = "alice/model"


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", TOKENS)
    server.start()
    httpx.post(f"{server.url}/api/repos/create", json={"name": REPO}, headers=AUTH).raise_for_status()
    yield server
    server.kill()


def git_dir(server: ServerProcess) -> Path:
    return server.data / "repos" / "models" / "alice" / "model.git"


def fsck(server: ServerProcess) -> None:
    out = subprocess.run(["git", f"--git-dir={git_dir(server)}", "fsck", "--full", "--strict"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error" not in out.stderr.lower() and "missing" not in out.stdout, out.stdout + out.stderr


def head(server: ServerProcess) -> str:
    return httpx.get(f"{server.url}/api/models/{REPO}", timeout=30).json()["sha"]


def files_at(server: ServerProcess, rev: str, prefix: str = "") -> dict[str, bytes]:
    """Every file under ``prefix`` at ``rev``, as stored in git (one ls-tree, one cat-file)."""
    from hub.server.storage import GitRepo

    repo = GitRepo(git_dir(server))
    commit = repo.resolve(rev)
    entries = [e for e in repo.ls_tree(commit, recursive=True) if e.type == "blob" and e.path.startswith(prefix)]
    blobs = repo.read_blobs([e.oid for e in entries])
    return {e.path: blobs[e.oid] for e in entries}


def served(server: ServerProcess, rev: str, paths: list[str]) -> dict[str, bytes]:
    """What ``/resolve`` answers for ``paths`` (the bytes a client would get)."""
    with httpx.Client(timeout=30) as client:
        return {p: client.get(f"{server.url}/{REPO}/resolve/{rev}/{p}").content for p in paths}


def add(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "encoding": "base64", "content": base64.b64encode(data).decode()}}


def send_raw(url: str, method: str, target: str, body: bytes, upto: int | None = None) -> socket.socket:
    """Open a connection and send a request with ``upto`` bytes of its body (all by default)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    headers = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: {AUTH['authorization']}\r\n" \
              f"Content-Length: {len(body)}\r\nContent-Type: application/x-ndjson\r\n\r\n"
    sock.sendall(headers.encode() + body[:upto if upto is not None else len(body)])
    return sock


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_kill_during_lfs_upload_stores_nothing_and_retry_succeeds(proc: ServerProcess):
    from huggingface_hub import HfApi, constants

    constants.HF_HUB_DISABLE_XET = True
    data = os.urandom(3_000_000)
    oid = hashlib.sha256(data).hexdigest()
    r = httpx.post(f"{proc.url}/{REPO}.git/info/lfs/objects/batch", headers=AUTH, json={
        "operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]})
    href = urlsplit(r.json()["objects"][0]["actions"]["upload"]["href"])
    tmp = proc.data / "lfs" / "tmp"
    sock = send_raw(proc.url, "PUT", f"{href.path}?{href.query}", data, upto=len(data) // 2)
    assert wait_for(lambda: any(tmp.iterdir())), "the upload never reached the server's temp folder"
    proc.kill()
    sock.close()
    assert any(tmp.iterdir())  # the half upload is on disk...
    obj = proc.data / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    assert not obj.exists()  # ...but never as an object
    proc.start()
    assert not any(tmp.iterdir())  # and start-up clears it
    fsck(proc)
    before = head(proc)
    r = httpx.post(f"{proc.url}/api/models/{REPO}/commit/main", headers=AUTH, content=commit_body(
        [{"key": "lfsFile", "value": {"path": "w.safetensors", "algo": "sha256", "oid": oid, "size": len(data)}}]))
    assert r.status_code == 400 and head(proc) == before  # a commit cannot reference the half object
    api = HfApi(endpoint=proc.url, token="alice-token")
    api.upload_file(path_or_fileobj=data, path_in_repo="w.safetensors", repo_id=REPO)  # the client's retry
    got = httpx.get(f"{proc.url}/{REPO}/resolve/main/w.safetensors", timeout=30)
    assert hashlib.sha256(got.content).hexdigest() == oid and obj.stat().st_size == len(data)
    fsck(proc)


def kill_commit_rounds(proc: ServerProcess, rounds: int, files: int, seed: int) -> dict[str, int]:
    """Send a commit, SIGKILL the server after a random delay, restart, check, retry; repeat."""
    rng = random.Random(seed)
    outcomes = {"landed": 0, "not_landed": 0, "half_body": 0}
    t0 = time.monotonic()
    probe = commit_body([add(f"probe/{i}.txt", b"p") for i in range(files)], "probe")
    sock = send_raw(proc.url, "POST", f"/api/models/{REPO}/commit/main", probe)
    sock.recv(100)
    sock.close()
    duration = time.monotonic() - t0  # how long one such commit takes here
    for round_ in range(rounds):
        old = head(proc)
        content = {f"r{round_}/{i}.txt": f"round {round_} file {i}\n".encode() * 8 for i in range(files)}
        body = commit_body([add(p, c) for p, c in content.items()], f"round {round_}", parent=old)
        half = rng.random() < 0.25
        sock = send_raw(proc.url, "POST", f"/api/models/{REPO}/commit/main", body,
                        upto=len(body) // 2 if half else None)
        time.sleep(rng.uniform(0, duration * 2))  # about half the kills land before the commit ends
        proc.kill()
        sock.close()
        proc.start()
        fsck(proc)
        new = head(proc)
        stored = files_at(proc, new, f"r{round_}/")
        if new == old:
            assert stored == {}  # none of it
        else:
            assert stored == content  # all of it, and served byte for byte
            sample = rng.sample(sorted(content), 3)
            assert served(proc, new, sample) == {p: content[p] for p in sample}
        # The client's retry of the same commit (parent = what it saw before): full commit or none.
        started = time.monotonic()
        r = httpx.post(f"{proc.url}/api/models/{REPO}/commit/main", headers=AUTH, content=body, timeout=120)
        if r.status_code == 200:
            duration = time.monotonic() - started  # the repo grows: keep the estimate current
        if new == old:
            assert r.status_code == 200, r.text
            outcomes["half_body" if half else "not_landed"] += 1
        else:
            assert r.status_code == 412, r.text  # it had landed: the retry must not apply it twice
            outcomes["landed"] += 1
        assert files_at(proc, "main", f"r{round_}/") == content
    fsck(proc)
    return outcomes


def test_kill_during_commit_is_all_or_nothing(proc: ServerProcess):
    outcomes = kill_commit_rounds(proc, rounds=4, files=40, seed=1)
    print("kill -9 during commit, outcomes:", outcomes)  # shown with -s; the figures in BENCHMARKS.md
    assert sum(outcomes.values()) == 4


@pytest.mark.slow
def test_kill_during_commit_many_rounds(proc: ServerProcess):
    outcomes = kill_commit_rounds(proc, rounds=25, files=150, seed=2)
    print("kill -9 during commit, outcomes:", outcomes)
    assert sum(outcomes.values()) == 25


def test_acknowledged_concurrent_commits_survive_kill(proc: ServerProcess):
    """Twelve writers race (some with a parent that goes stale); then kill -9: every 200 is kept."""
    base = head(proc)

    def write(i: int) -> tuple[int, str, str | None]:
        body = commit_body([add(f"c/{i}.txt", f"writer {i}\n".encode())], f"writer {i}",
                           parent=base if i % 3 == 0 else None)
        r = httpx.post(f"{proc.url}/api/models/{REPO}/commit/main", headers=AUTH, content=body, timeout=120)
        return r.status_code, f"c/{i}.txt", r.json().get("commitOid")

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(write, range(12)))
    assert {status for status, _, _ in results} <= {200, 412}
    assert sum(status == 412 for status, _, _ in results) >= 3  # at most one stale-parent writer wins
    acknowledged = {path: oid for status, path, oid in results if status == 200}
    proc.kill()
    proc.start()
    fsck(proc)
    history = subprocess.run(["git", f"--git-dir={git_dir(proc)}", "rev-list", "main"],
                             capture_output=True, text=True).stdout.split()
    assert set(acknowledged.values()) <= set(history)
    assert len(history) == len(acknowledged) + 1  # a straight line: nothing lost, nothing extra
    got = served(proc, "main", sorted(acknowledged))
    assert all(got[path] == f"writer {path[2:-4]}\n".encode() for path in acknowledged)


def test_commit_limit_from_the_command_line(tmp_path: Path):
    with ServerProcess(tmp_path / "data", TOKENS, extra_args=("--max-commit-bytes", "100k")) as server:
        httpx.post(f"{server.url}/api/repos/create", json={"name": REPO}, headers=AUTH).raise_for_status()
        big = commit_body([add(f"f{i}.txt", b"x" * 5000) for i in range(30)])  # ~200 KB of small lines
        r = httpx.post(f"{server.url}/api/models/{REPO}/commit/main", headers=AUTH, content=big)
        assert r.status_code == 413 and "102400" in r.json()["error"]
        small = commit_body([add("f.txt", b"x" * 5000)])
        assert httpx.post(f"{server.url}/api/models/{REPO}/commit/main", headers=AUTH, content=small).status_code == 200
    with ServerProcess(tmp_path / "data2", TOKENS, env={"HUB_SERVE_MAX_COMMIT_BYTES": "100k"}) as server:
        httpx.post(f"{server.url}/api/repos/create", json={"name": REPO}, headers=AUTH).raise_for_status()
        r = httpx.post(f"{server.url}/api/models/{REPO}/commit/main", headers=AUTH, content=big)
        assert r.status_code == 413


# --------------------------------------------------------------------------- disk full


def no_space(after: int):
    """A write function that fails with ENOSPC once ``after`` bytes have been written."""
    written = [0]

    def write(fh, data: bytes) -> None:
        if written[0] + len(data) > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        written[0] += len(data)
        fh.write(data)

    return write


def test_disk_full_during_lfs_upload_is_507_and_stores_nothing(tmp_path: Path, monkeypatch):
    from hub.server.serving import start_background
    from hub.server.lfs import LfsStore

    with start_background(tmp_path / "data", tokens=TOKENS) as server:
        httpx.post(f"{server.url}/api/repos/create", json={"name": REPO}, headers=AUTH).raise_for_status()
        data = os.urandom(3_000_000)
        oid = hashlib.sha256(data).hexdigest()
        r = httpx.post(f"{server.url}/{REPO}.git/info/lfs/objects/batch", headers=AUTH, json={
            "operation": "upload", "objects": [{"oid": oid, "size": len(data)}]})
        href = r.json()["objects"][0]["actions"]["upload"]["href"]
        monkeypatch.setattr(LfsStore, "_write", staticmethod(no_space(1_500_000)))
        r = httpx.put(href, content=data, timeout=60)
        assert r.status_code == 507 and "storage" in r.headers["x-error-message"]
        obj = server.data_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
        assert not obj.exists() and not any((server.data_dir / "lfs" / "tmp").iterdir())
        r = httpx.post(f"{server.url}/api/models/{REPO}/commit/main", headers=AUTH, content=commit_body(
            [{"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(data)}}]))
        assert r.status_code == 400
        monkeypatch.undo()  # space again: the retry stores the whole object
        assert httpx.put(href, content=data, timeout=60).status_code == 200
        assert obj.stat().st_size == len(data)


def test_disk_full_during_commit_is_507_and_changes_nothing(tmp_path: Path, monkeypatch):
    from hub.server import commits
    from hub.server.serving import start_background

    with start_background(tmp_path / "data", tokens=TOKENS) as server:
        httpx.post(f"{server.url}/api/repos/create", json={"name": REPO}, headers=AUTH).raise_for_status()
        before = httpx.get(f"{server.url}/api/models/{REPO}").json()["sha"]
        calls = [0]

        def full_after_three(path: Path, data: bytes) -> None:
            calls[0] += 1
            if calls[0] > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            path.write_bytes(data)

        monkeypatch.setattr(commits, "write_file", full_after_three)
        body = commit_body([add(f"f{i}.txt", b"data") for i in range(6)])
        r = httpx.post(f"{server.url}/api/models/{REPO}/commit/main", headers=AUTH, content=body)
        assert r.status_code == 507, r.text
        assert httpx.get(f"{server.url}/api/models/{REPO}").json()["sha"] == before
        assert list((server.data_dir / "tmp").glob("commit-*")) == []
        monkeypatch.undo()
        assert httpx.post(f"{server.url}/api/models/{REPO}/commit/main", headers=AUTH, content=body).status_code == 200
