"""Budgets on untrusted input to `hub serve`: card YAML, commit bodies, JSON, odd names.

Each test is the reproduction of a probe that once got a 3 MiB answer, a 500 or a dropped
connection out of the server; now each must be a clear 4xx and leave the repo as it was.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest

from hub.server.serving import ServerHandle, start_background
from hub.testing.serve import commit_body, ndjson

TOKENS = {"alice-token": "alice"}
AUTH = {"authorization": "Bearer alice-token"}
LIMIT = 256 * 1024  # a small configured commit limit, so the test sends little


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_background(tmp_path_factory.mktemp("serve"), tokens=TOKENS, max_commit_bytes=LIMIT)
    yield handle
    handle.stop()


@pytest.fixture
def repo(server: ServerHandle) -> str:
    rid = f"alice/r-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{server.url}/api/repos/create", json={"name": rid}, headers=AUTH)
    assert r.status_code == 200, r.text
    return rid


def commit(server: ServerHandle, repo: str, body: bytes, branch: str = "main") -> httpx.Response:
    return httpx.post(f"{server.url}/api/models/{repo}/commit/{branch}", content=body,
                      headers={**AUTH, "content-type": "application/x-ndjson"}, timeout=60)


def add(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "encoding": "base64", "content": base64.b64encode(data).decode()}}


def head(server: ServerHandle, repo: str) -> str:
    return httpx.get(f"{server.url}/api/models/{repo}").json()["sha"]


# A 377-byte card: nine alias levels, each thirty times the one before.
LAUGHS = "---\na: &a [x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 30)}]\n" for i in range(3)) + "---\n# card\n"


def test_card_with_alias_bomb_is_refused_at_commit(server, repo):
    before = head(server, repo)
    r = commit(server, repo, commit_body([add("README.md", LAUGHS.encode())]))
    assert r.status_code == 400, r.text
    assert "README.md" in r.json()["error"] and "alias" in r.json()["error"]
    assert head(server, repo) == before


@pytest.mark.parametrize("card,what", [
    ("---\n" + "a:\n" + "".join("  " * i + f"  k{i}:\n" for i in range(80)) + "---\n", "deep"),
    ("---\n" + "[" * 5000 + "]" * 5000 + "\n---\n", "deep"),
    ("---\nx: '" + "y" * 70_000 + "'\n---\n", "larger"),
    ("---\na: &a [*a]\n---\n", "alias"),
])
def test_card_over_budget_is_refused_at_commit(server, repo, card, what):
    r = commit(server, repo, commit_body([add("README.md", card.encode())]))
    assert r.status_code == 400, r.text
    assert what in r.json()["error"]


def test_stored_alias_bomb_is_served_without_metadata(server, repo, tmp_path):
    """A card already stored (by an older server, or by git push) must not blow up model info."""
    from hub.server.storage import GitRepo, identity

    ns, name = repo.split("/")
    git = GitRepo(server.data_dir / "repos" / "models" / ns / f"{name}.git")
    parent = head(server, repo)
    blob = git.write_blob(LAUGHS.encode())
    attrs = git.git("rev-parse", f"{parent}:.gitattributes").decode().strip()
    tree = git.git("mktree", input=f"100644 blob {attrs}\t.gitattributes\n100644 blob {blob}\tREADME.md\n".encode())
    new = git.git("commit-tree", tree.decode().strip(), "-p", parent, "-m", "bomb", env=identity("alice")).decode().strip()
    git.git("update-ref", "refs/heads/main", new, parent)
    r = httpx.get(f"{server.url}/api/models/{repo}")
    assert r.status_code == 200
    assert "cardData" not in r.json() and len(r.content) < 4096
    assert {s["rfilename"] for s in r.json()["siblings"]} == {".gitattributes", "README.md"}


def test_ordinary_card_metadata_is_served_json_safe(server, repo):
    card = ("---\nlicense: mit\ntags: [a, b]\ndate: 2024-01-02\nscore: .nan\nbase: &b {x: 1}\n"
            "copy: *b\n---\n# hi\n")
    assert commit(server, repo, commit_body([add("README.md", card.encode())])).status_code == 200
    info = httpx.get(f"{server.url}/api/models/{repo}").json()
    assert info["cardData"]["license"] == "mit" and info["cardData"]["date"] == "2024-01-02"
    assert info["cardData"]["copy"] == {"x": 1} and info["cardData"]["score"] == "nan"
    assert "license:mit" in info["tags"]


def test_validate_yaml_refuses_alias_bomb(server):
    r = httpx.post(f"{server.url}/api/validate-yaml", json={"content": LAUGHS, "repoType": "model"})
    assert r.status_code == 400 and "alias" in r.json()["errors"][0]["message"]


def test_commit_body_over_the_limit_is_413(server, repo):
    before = head(server, repo)
    ops = [add(f"f/{i}.txt", b"x" * 10_000) for i in range(40)]  # 40 small lines, ~540 KB in all
    r = commit(server, repo, commit_body(ops))
    assert r.status_code == 413, r.text
    assert "--max-commit-bytes" in r.json()["error"]
    assert head(server, repo) == before
    assert list((server.data_dir / "tmp").glob("commit-*")) == []
    r = commit(server, repo, commit_body(ops[:5]))  # under the limit: accepted
    assert r.status_code == 200, r.text


def test_commit_body_limit_without_content_length(server, repo):
    """Chunked bodies announce no length: the limit is counted while reading."""
    ops = [add(f"f/{i}.txt", b"x" * 10_000) for i in range(40)]
    body = commit_body(ops)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    r = httpx.post(f"{server.url}/api/models/{repo}/commit/main", content=chunks(), headers=AUTH, timeout=60)
    assert r.status_code == 413, r.text


def raw_request(server: ServerHandle, request: bytes) -> bytes:
    """Send bytes as they are and return the whole answer (b'' if the server hung up without one)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


@pytest.mark.parametrize("path", [
    "/api/models/alice/a%00b", "/api/models/al%00ice/x/revision/main", "/alice/x%00/resolve/main/a.txt",
    "/api/models/{repo}/tree/main/a%00b", "/{repo}/resolve/main/a%00.txt", "/{repo}/resolve/ma%00in/a.txt",
    "/api/models/{repo}/revision/ma%01in", "/alice/x%7f/resolve/main/a", "/api/models/alice/%1b%5b31mred",
])
def test_control_characters_in_names_get_an_answer(server, repo, path):
    path = path.format(repo=repo)
    answer = raw_request(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    assert 400 <= status < 500, (path, answer[:200])
    assert b"\x00" not in answer.split(b"\r\n\r\n")[0]


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/api/models/{repo}/branch/a%00b", b""),
    ("DELETE", "/api/models/{repo}/tag/a%00b", b""),
    ("DELETE", "/api/models/{repo}/branch/a%00b", b""),
    ("POST", "/api/models/{repo}/tag/main", json.dumps({"tag": "a\u0000b"}).encode()),
    ("POST", "/api/models/{repo}/commit/a%00b", commit_body([])),
    ("POST", "/api/repos/create", json.dumps({"name": "x\u0000y"}).encode()),
])
def test_control_characters_in_writes_get_400(server, repo, method, path, body):
    r = httpx.request(method, server.url + path.format(repo=repo), content=body,
                      headers={**AUTH, "content-type": "application/json"})
    assert r.status_code in (400, 404), (path, r.status_code, r.text)


@pytest.mark.parametrize("line", [
    {"key": "header", "value": None},
    {"key": "header", "value": [1, 2]},
    {"key": "header", "value": {"summary": {"a": 1}}},
    {"key": "header", "value": {"summary": "s", "parentCommit": 12345678}},
    {"key": "file", "value": "README.md"},
    {"key": "file", "value": {"path": "a.txt", "content": 12}},
    {"key": "file", "value": {"path": "a.txt", "content": "eA==", "encoding": ["base64"]}},
    {"key": "lfsFile", "value": {"path": "a.bin", "oid": "0" * 64, "size": True}},
    {"key": "lfsFile", "value": {"path": "a.bin", "oid": "0" * 64, "algo": None, "size": "3"}},
    {"key": ["header"], "value": {}},
    {"key": "deletedFile", "value": {"path": 5}},
    {"key": "deletedFolder", "value": None},
    b"[" * 100_000 + b"]" * 100_000,
    b'{"key": "header", "value": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'"just a string"',
    b"\xff\xfe",
])
def test_malformed_commit_lines_get_400(server, repo, line):
    before = head(server, repo)
    lines = [line] if isinstance(line, bytes) or line.get("key") == "header" else \
        [{"key": "header", "value": {"summary": "s"}}, line]
    r = commit(server, repo, ndjson(*lines))
    assert r.status_code == 400, (line if not isinstance(line, bytes) else line[:40], r.status_code, r.text[:200])
    assert head(server, repo) == before


@pytest.mark.parametrize("route,body", [
    ("/api/models/{repo}/preupload/main", {"files": [{"path": "a.txt", "size": "12", "sample": ""}]}),
    ("/api/models/{repo}/preupload/main", {"files": [{"path": "a.txt", "size": 12, "sample": 5}]}),
    ("/api/models/{repo}/preupload/main", {"files": [{"path": "a.txt", "size": [1]}]}),
    ("/api/models/{repo}/preupload/main", {"files": [{"path": "a\u0000.txt", "size": 1}]}),
    ("/{repo}.git/info/lfs/objects/batch", {"operation": "upload", "transfers": 5, "objects": []}),
    ("/{repo}.git/info/lfs/objects/batch", {"operation": "upload", "objects": [{"oid": "0" * 64, "size": True}]}),
    ("/{repo}.git/info/lfs/objects/batch", {"operation": "upload", "hash_algo": ["sha256"], "objects": []}),
    ("/{repo}.git/info/lfs/objects/verify", {"oid": "0" * 64, "size": {"a": 1}}),
    ("/api/models/{repo}/tag/main", {"tag": ["v1"]}),
    ("/api/models/{repo}/branch/b1", {"startingPoint": {"a": 1}}),
    ("/api/repos/create", {"name": "x", "organization": {"a": 1}}),
    ("/api/validate-yaml", {"content": ["---"]}),
])
def test_wrong_json_types_get_400(server, repo, route, body):
    r = httpx.post(server.url + route.format(repo=repo), json=body, headers=AUTH)
    assert r.status_code in (400, 404, 422), (route, body, r.status_code, r.text[:200])
    assert r.status_code != 404 or "verify" in route


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"files": ' + b"[" * 3000 + b"]" * 3000 + b"}",
                                 b"{" * 10, b"\xff", b"1e999999"])
def test_deep_or_broken_json_bodies_get_400(server, repo, raw):
    r = httpx.post(f"{server.url}/api/models/{repo}/preupload/main", content=raw,
                   headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400, (raw[:20], r.status_code, r.text[:200])


def test_huge_json_body_is_413(server, repo):
    body = b'{"files": [' + b",".join([b'{"path": "a.txt", "size": 1}'] * 700_000) + b"]}"  # ~20 MB
    r = httpx.post(f"{server.url}/api/models/{repo}/preupload/main", content=body,
                   headers={**AUTH, "content-type": "application/json"}, timeout=60)
    assert r.status_code == 413, r.text[:200]


def test_card_with_a_lone_surrogate_is_served(server, repo):
    """Found by the fuzzer: a ``\\ud800`` escape in card YAML made model info a 500."""
    card = b'---\nname: "a\\ud800b"\n---\n'
    assert commit(server, repo, commit_body([add("README.md", card)])).status_code == 200
    r = httpx.get(f"{server.url}/api/models/{repo}")
    assert r.status_code == 200 and r.json()["cardData"]["name"] == "a\ud800b"


@pytest.mark.parametrize("method,path", [("GET", "/%0A/0"), ("PATCH", "/api/models/a/b"), ("OPTIONS", "/")])
def test_every_miss_is_a_json_error(server, method, path):
    """Found by the fuzzer: a decoded newline, or an unrouted method, got Starlette's plain text."""
    r = httpx.request(method, server.url + path)
    assert 400 <= r.status_code < 500 and r.headers.get("x-error-message") and "error" in r.json()
