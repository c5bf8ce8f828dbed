"""Property-based fuzzing of `hub serve`'s JSON, NDJSON, LFS and path handling (Hypothesis).

The property everywhere: whatever arrives, the server answers, within the client's timeout, with a
status below 500 (a rejection is a 4xx carrying ``X-Error-Message``), and what it stores stays a
valid git repository. The default run tries a few hundred inputs in well under a minute; the
``slow`` twins (``make test-all``) try twenty times more.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from hub.server.serving import ServerHandle, start_background  # noqa: E402
from hub.testing.serve import ndjson  # noqa: E402

AUTH = {"authorization": "Bearer alice-token"}
TIMEOUT = 20.0  # a hang past this fails the test (httpx raises)
FAST, SLOW = 60, 1200
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                derandomize=False, database=None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_background(tmp_path_factory.mktemp("fuzz"), tokens={"alice-token": "alice"},
                              max_commit_bytes=1 << 20)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as c:
        yield c


@pytest.fixture(scope="module")
def repo(client: httpx.Client) -> str:
    rid = f"alice/fuzz-{uuid.uuid4().hex[:6]}"
    client.post("/api/repos/create", json={"name": rid}, headers=AUTH).raise_for_status()
    client.post(f"/api/models/{rid}/commit/main", headers=AUTH, content=ndjson(
        {"key": "header", "value": {"summary": "seed"}},
        {"key": "file", "value": {"path": "README.md", "encoding": "base64",
                                  "content": base64.b64encode(b"---\nlicense: mit\n---\n").decode()}})).raise_for_status()
    return rid


def ok(r: httpx.Response) -> None:
    """The property: an answer below 500, and every refusal says why."""
    assert r.status_code < 500, (r.request.method, str(r.request.url)[:200], r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.headers.get("x-error-message"), (r.status_code, r.text[:200])


def fsck_clean(server: ServerHandle, repo: str) -> None:
    ns, name = repo.split("/")
    out = subprocess.run(["git", f"--git-dir={server.data_dir / 'repos' / 'models' / ns / f'{name}.git'}",
                          "fsck", "--full", "--strict"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------------------- strategies

scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=15)
names = st.sampled_from(["a.txt", "README.md", "d/e.bin", "../x", "/abs", "a\x00b", ".git/config", "a//b",
                         "x\x1b[31m", "\ud800", "weights.safetensors", "", "a/"]) | st.text(max_size=30)
oids = st.sampled_from(["0" * 64, "f" * 64, "A" * 64, "0" * 63]) | st.text(max_size=70)
b64 = st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=30)


def loose(fields: dict) -> st.SearchStrategy:
    """A dict with each field valid-ish, missing, or any JSON value."""
    return st.fixed_dictionaries({}, optional={k: v | json_values for k, v in fields.items()}) | json_values


op_values = {
    "header": loose({"summary": st.text(max_size=40), "description": st.text(max_size=40),
                     "parentCommit": st.text(alphabet="0123456789abcdef", min_size=7, max_size=40)}),
    "file": loose({"path": names, "content": b64, "encoding": st.sampled_from(["base64", "utf-8"])}),
    "lfsFile": loose({"path": names, "oid": oids, "size": st.integers(-5, 2**40), "algo": st.just("sha256")}),
    "deletedFile": loose({"path": names}),
    "deletedFolder": loose({"path": names}),
}


@st.composite
def ndjson_lines(draw) -> bytes:
    kind = draw(st.sampled_from([*op_values, "other", "raw", "deep"]))
    if kind == "raw":
        return draw(st.binary(max_size=120)).replace(b"\n", b" ")
    if kind == "deep":
        depth = draw(st.integers(1, 5000))
        return b'{"key": "file", "value": ' + b"[" * depth + b"]" * depth + b"}"
    key = draw(st.text(max_size=10)) if kind == "other" else kind
    return json.dumps({"key": key, "value": draw(op_values.get(kind, json_values))}).encode()


@st.composite
def commit_bodies(draw) -> bytes:
    lines = draw(st.lists(ndjson_lines(), max_size=6))
    if draw(st.booleans()):
        lines.insert(0, json.dumps({"key": "header", "value": {"summary": "fuzz"}}).encode())
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


JSON_ROUTES = ["/api/models/{repo}/preupload/main", "/{repo}.git/info/lfs/objects/batch",
               "/{repo}.git/info/lfs/objects/verify", "/api/models/{repo}/tag/main", "/api/models/{repo}/branch/{b}",
               "/api/repos/create", "/api/validate-yaml", "/api/models/{repo}/paths-info/main"]
json_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={
        "files": st.lists(loose({"path": names, "size": st.integers(-1, 2**40), "sample": b64}), max_size=4) | json_values,
        "operation": st.sampled_from(["upload", "download"]) | json_values,
        "transfers": st.lists(st.sampled_from(["basic", "xet"])) | json_values,
        "objects": st.lists(loose({"oid": oids, "size": st.integers(-1, 2**40)}), max_size=3) | json_values,
        "hash_algo": st.just("sha256") | json_values, "oid": oids, "size": json_values,
        "tag": names, "message": json_values, "startingPoint": json_values, "content": st.text(max_size=80) | json_values,
        "name": names, "organization": json_values, "private": json_values, "visibility": json_values,
    }).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=100),
    st.integers(1, 4000).map(lambda n: b"[" * n),
)
segments = st.text(max_size=12) | st.sampled_from(["..", ".", "", "main", "alice", "x.git", "resolve", "api",
                                                   "models", "info", "lfs", "objects", "%", "\x00", "refs%2Fheads"])


def run_budget(n: int):
    return settings(max_examples=n, **SETTINGS)


# --------------------------------------------------------------------------- properties


def _commits(server, client, repo):
    @given(body=commit_bodies(), branch=st.sampled_from(["main", "nope", "a%00b", "main~1"]))
    def prop(body: bytes, branch: str) -> None:
        ok(client.post(f"/api/models/{repo}/commit/{branch}", content=body, headers=AUTH))

    return prop


def test_fuzz_commit_ndjson(server, client, repo):
    run_budget(FAST)(_commits(server, client, repo))()
    fsck_clean(server, repo)


@pytest.mark.slow
def test_fuzz_commit_ndjson_long(server, client, repo):
    run_budget(SLOW)(_commits(server, client, repo))()
    fsck_clean(server, repo)


def _json_routes(client, repo):
    @given(route=st.sampled_from(JSON_ROUTES), body=json_bodies, branch=st.text(max_size=6),
           ctype=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]))
    def prop(route: str, body: bytes, branch: str, ctype: str) -> None:
        url = route.format(repo=repo, b=quote("fz-" + branch, safe=""))
        ok(client.post(url, content=body, headers={**AUTH, "content-type": ctype}))

    return prop


def test_fuzz_json_endpoints(client, repo):
    run_budget(FAST * 2)(_json_routes(client, repo))()


@pytest.mark.slow
def test_fuzz_json_endpoints_long(client, repo):
    run_budget(SLOW * 2)(_json_routes(client, repo))()


def _paths(client, repo):
    @given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE"]),
           segs=st.lists(segments, max_size=7), prefix=st.sampled_from(["", "api/models/", repo + "/", "api/"]),
           auth=st.sampled_from([None, "Bearer alice-token", "Bearer nope", "Basic x", "Bearer", "bearer\tx", "Bearer  alice-token"]),
           query=st.text(max_size=20))
    def prop(method: str, segs: list[str], prefix: str, auth: str | None, query: str) -> None:
        path = "/" + prefix + "/".join(quote(s, safe="") for s in segs)
        headers = {"authorization": auth} if auth else {}
        ok(client.request(method, str(client.base_url).rstrip("/") + path, params={"q": query} if query else None, headers=headers, content=b""))

    return prop


def test_fuzz_paths_and_headers(client, repo):
    run_budget(FAST * 3)(_paths(client, repo))()


@pytest.mark.slow
def test_fuzz_paths_and_headers_long(client, repo):
    run_budget(SLOW * 3)(_paths(client, repo))()


def _lfs_put(client, repo):
    @given(oid=oids, query=st.dictionaries(st.sampled_from(["size", "expires", "sig", "x"]), st.text(max_size=20),
                                           max_size=4), body=st.binary(max_size=300))
    def prop(oid: str, query: dict, body: bytes) -> None:
        ok(client.put(f"/{repo}.git/info/lfs/objects/{quote(oid, safe='')}", params=query, content=body))

    return prop


def test_fuzz_lfs_upload(client, repo):
    run_budget(FAST)(_lfs_put(client, repo))()


cards = st.one_of(
    json_values.map(lambda v: json.dumps({"data": v})),  # JSON is YAML
    st.text(alphabet="ab: &*[]{},-\n!|>'\"#?.0123456789\t", max_size=300),
    st.integers(1, 12).flatmap(lambda levels: st.integers(2, 40).map(lambda fan: "a0: &a0 [x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]\n" for i in range(1, levels)))),
)


def _cards(server, client, repo):
    @given(card=cards)
    def prop(card: str) -> None:
        readme = f"---\n{card}\n---\n# card\n".encode()
        r = client.post(f"/api/models/{repo}/commit/main", headers=AUTH, content=ndjson(
            {"key": "header", "value": {"summary": "card"}},
            {"key": "file", "value": {"path": "README.md", "encoding": "base64",
                                      "content": base64.b64encode(readme).decode()}}))
        ok(r)
        info = client.get(f"/api/models/{repo}")
        ok(info)
        assert len(info.content) < 1 << 20  # bounded whatever the card holds
        ok(client.post("/api/validate-yaml", json={"content": readme.decode(), "repoType": "model"}))

    return prop


def test_fuzz_model_cards(server, client, repo):
    run_budget(FAST // 3)(_cards(server, client, repo))()


@pytest.mark.slow
def test_fuzz_model_cards_long(server, client, repo):
    run_budget(SLOW // 3)(_cards(server, client, repo))()


def _raw(server):
    host, port = server.url.removeprefix("http://").split(":")

    @given(target=st.binary(min_size=1, max_size=60), method=st.sampled_from([b"GET", b"POST", b"PUT"]))
    def prop(target: bytes, method: bytes) -> None:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(method + b" /" + target.replace(b"\r", b"").replace(b"\n", b"").replace(b" ", b"")
                         + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 "), answer[:100]  # an answer, never a silent hang-up
        assert int(answer.split(b" ", 2)[1]) < 500, answer[:300]

    return prop


def test_fuzz_raw_request_targets(server):
    run_budget(FAST)(_raw(server))()
