"""Faults `hub serve` must survive: stale parents, races, corrupted and interrupted uploads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError

AUTH = {"authorization": "Bearer alice-token"}


def batch(server, repo_id: str, oid: str, size: int) -> dict:
    r = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", headers=AUTH, json={
        "operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
        "objects": [{"oid": oid, "size": size}]})
    r.raise_for_status()
    return r.json()["objects"][0]


def raw_commit(server, repo_id: str, *ops: dict, parent: str | None = None) -> httpx.Response:
    header = {"summary": "raw", "description": ""}
    if parent:
        header["parentCommit"] = parent
    lines = [{"key": "header", "value": header}, *ops]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return httpx.post(f"{server.url}/api/models/{repo_id}/commit/main", content=body,
                      headers={**AUTH, "content-type": "application/x-ndjson"})


def lfs_state(server, oid: str) -> tuple[bool, list]:
    obj = server.data_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    return obj.exists(), list((server.data_dir / "lfs" / "tmp").iterdir())


def test_stale_parent_commit_refused(alice, repo_id):
    old = alice.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id).oid
    alice.upload_file(path_or_fileobj=b"2", path_in_repo="a.txt", repo_id=repo_id)
    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_commit(repo_id, commit_message="late", parent_commit=old,
                            operations=[CommitOperationAdd("b.txt", b"3")])
    assert exc.value.response.status_code == 412
    assert len(alice.list_repo_commits(repo_id)) == 3
    head = alice.model_info(repo_id).sha
    alice.create_commit(repo_id, commit_message="fresh", parent_commit=head[:7],
                        operations=[CommitOperationAdd("b.txt", b"3")])


def test_concurrent_commits_none_lost(alice, repo_id, git_dir):
    def upload(i: int) -> str:
        return alice.upload_file(path_or_fileobj=f"file {i}\n".encode(), path_in_repo=f"f/{i}.txt",
                                 repo_id=repo_id, commit_message=f"commit {i}").oid

    with ThreadPoolExecutor(max_workers=20) as pool:
        oids = list(pool.map(upload, range(20)))
    assert len(set(oids)) == 20
    commits = alice.list_repo_commits(repo_id)
    assert len(commits) == 21 and {c.commit_id for c in commits} >= set(oids)
    assert {f"f/{i}.txt" for i in range(20)} <= set(alice.list_repo_files(repo_id))
    log = os.popen(f"git --git-dir={git_dir(repo_id)} rev-list --count main").read().strip()
    assert log == "21"  # a straight history: every commit has the previous head as parent


def test_corrupted_lfs_upload_refused(server, alice, repo_id):
    data = os.urandom(300_000)
    oid = hashlib.sha256(data).hexdigest()
    href = batch(server, repo_id, oid, len(data))["actions"]["upload"]["href"]
    corrupted = bytearray(data)
    corrupted[1000] ^= 0xFF
    r = httpx.put(href, content=bytes(corrupted))
    assert r.status_code == 400 and "sha256 mismatch" in r.json()["error"]
    assert lfs_state(server, oid) == (False, [])
    r = httpx.put(href, content=data[:-1])  # short body with a wrong length
    assert r.status_code == 400
    before = len(alice.list_repo_commits(repo_id))
    r = raw_commit(server, repo_id, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256",
                                                                 "oid": oid, "size": len(data)}})
    assert r.status_code == 400 and "was not uploaded" in r.headers["x-error-message"]
    assert len(alice.list_repo_commits(repo_id)) == before
    assert httpx.put(href.replace("sig=", "sig=00"), content=data).status_code == 403
    assert httpx.put(href, content=data).status_code == 200  # the intact bytes are accepted
    assert lfs_state(server, oid) == (True, [])


def test_dropped_upload_leaves_nothing(server, alice, repo_id):
    size = 4_000_000
    data = os.urandom(size)
    oid = hashlib.sha256(data).hexdigest()
    href = urlsplit(batch(server, repo_id, oid, size)["actions"]["upload"]["href"])
    with socket.create_connection((href.hostname, href.port)) as sock:
        sock.sendall(f"PUT {href.path}?{href.query} HTTP/1.1\r\nHost: {href.netloc}\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        sock.sendall(data[: size // 2])
        deadline = time.monotonic() + 5
        while not lfs_state(server, oid)[1] and time.monotonic() < deadline:
            time.sleep(0.02)  # wait until the server is writing the temp file
        assert lfs_state(server, oid)[1], "the server never started receiving the upload"
    deadline = time.monotonic() + 10
    while lfs_state(server, oid) != (False, []) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lfs_state(server, oid) == (False, [])
    before = len(alice.list_repo_commits(repo_id))
    r = raw_commit(server, repo_id, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256",
                                                                 "oid": oid, "size": size}})
    assert r.status_code == 400
    assert len(alice.list_repo_commits(repo_id)) == before


def test_bad_commit_payloads_refused(server, alice, repo_id):
    before = len(alice.list_repo_commits(repo_id))
    content = base64.b64encode(b"x").decode()
    for path in ("../escape.txt", "/abs.txt", "a/.git/config", "a//b"):
        r = raw_commit(server, repo_id, {"key": "file", "value": {"path": path, "content": content,
                                                                  "encoding": "base64"}})
        assert r.status_code == 400, path
    r = raw_commit(server, repo_id, {"key": "deletedFile", "value": {"path": "missing.txt"}})
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
    r = httpx.post(f"{server.url}/api/models/{repo_id}/commit/main", content=b"not json\n", headers=AUTH)
    assert r.status_code == 400
    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_commit(repo_id, commit_message="pr", create_pr=True,
                            operations=[CommitOperationAdd("pr.txt", b"x")])
    assert exc.value.response.status_code == 400
    assert len(alice.list_repo_commits(repo_id)) == before
    assert list((server.data_dir / "tmp").glob("commit-*")) == []


def test_lfs_objects_of_other_repos_cannot_be_borrowed(server, alice, bob, repo_id):
    """Knowing the sha256 of a file in someone's (private) repo must not let you commit it."""
    data = os.urandom(50_000)
    oid = hashlib.sha256(data).hexdigest()
    alice.upload_file(path_or_fileobj=data, path_in_repo="secret.safetensors", repo_id=repo_id)
    mine = f"bob/thief-{oid[:8]}"
    bob.create_repo(mine)
    bob_auth = {"authorization": "Bearer bob-token"}
    r = httpx.post(f"{server.url}/{mine}.git/info/lfs/objects/batch", headers=bob_auth, json={
        "operation": "upload", "objects": [{"oid": oid, "size": len(data)}]})
    assert "actions" in r.json()["objects"][0]  # not "already present": bob must prove he has the bytes
    line = {"key": "lfsFile", "value": {"path": "stolen.bin", "algo": "sha256", "oid": oid, "size": len(data)}}
    body = json.dumps({"key": "header", "value": {"summary": "x"}}) + "\n" + json.dumps(line) + "\n"
    r = httpx.post(f"{server.url}/api/models/{mine}/commit/main", content=body.encode(), headers=bob_auth)
    assert r.status_code == 400
    assert bob.list_repo_files(mine) == [".gitattributes"]
    # The same theft as a regular file whose bytes are a hand-written LFS pointer.
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()
    line = {"key": "file", "value": {"path": "stolen.bin", "encoding": "base64",
                                     "content": base64.b64encode(pointer).decode()}}
    body = json.dumps({"key": "header", "value": {"summary": "x"}}) + "\n" + json.dumps(line) + "\n"
    r = httpx.post(f"{server.url}/api/models/{mine}/commit/main", content=body.encode(), headers=bob_auth)
    assert r.status_code == 400 and "not uploaded to this repo" in r.text
    assert bob.list_repo_files(mine) == [".gitattributes"]


def test_git_revision_syntax_is_not_a_revision(server, alice, repo_id):
    alice.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id)
    for rev in ("main~1", "main%5E%7Btree%7D", "%40%7B-1%7D"):
        r = httpx.head(f"{server.url}/{repo_id}/resolve/{rev}/.gitattributes")
        assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound", rev


def test_one_server_per_data_dir(server):
    from hub.server.serving import start_background

    with pytest.raises(RuntimeError, match="already using"):
        start_background(server.data_dir, tokens={})


def test_paths_that_leave_the_repo_are_not_found(server, alice, repo_id):
    alice.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id)
    for url in (f"{server.url}/api/models/{repo_id}/tree/main/..%2F..", f"{server.url}/{repo_id}/resolve/main/..%2Fa.txt"):
        r = httpx.get(url, headers={"authorization": "Bearer alice-token"})
        assert r.status_code == 404, (url, r.status_code)
