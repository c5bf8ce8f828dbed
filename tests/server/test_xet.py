"""The Xet protocol in ``hub serve``: hashes against the specification's reference values, the
stock client (with ``hf_xet``, no environment variable) through a whole round trip, and every
refusal — forged tokens, bad xorbs and shards, other people's xorbs, dedup probing."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError

from hub.server.xet.formats import FormatError, read_shard
from hub.server.xet.hashing import chunk_hash, file_hash, hash_to_hex, hex_to_hash, merkle_root

from . import xet_build as xb

pytest.importorskip("hf_xet", reason="hf_xet is a dependency of huggingface_hub on this platform")


# -- hashes: reference values published with the specification (xet-core's aggregated_hashes tests)
REF = [("cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6", 100),
       ("c3e67584b5c4fc2a89837ec39e40f2c8a6bb0b2987ac94cd4b31e5fbdd210a72", 200),
       ("0d2beb91b9196929a5ddec9f6e306924ddf4a24268e3e59fd8464738d525af37", 300),
       ("adf8773496a9b7319b2e50dc98093f344053b17d8ad37100b9c07d9805988784", 400)]


def leaves(*idx: int) -> list[tuple[bytes, int]]:
    return [(hex_to_hash(REF[i][0]), REF[i][1]) for i in idx]


def test_hash_string_form_reorders_each_eight_bytes() -> None:
    raw = bytes(range(32))
    # docs/xet/api.md's example, with the byte 0x10 its printed string drops (it has 62 digits)
    assert hash_to_hex(raw) == "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert hex_to_hash(hash_to_hex(raw)) == raw
    with pytest.raises(ValueError):
        hex_to_hash("0" * 63 + "G")


@pytest.mark.parametrize("idx, cas, file", [
    ((0,), "cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6",
     "8e16257caa3fe079d484d872a8975264b2ff683b0d6db9028cc7c0f968a45661"),
    ((0, 1, 2), "71ec1275fca074724e2dd666921b3277c7cee603e4d025bcab2d4050015be2bc",
     "54e55dccc6653c612bdb5576c5d3cb34bb31bc4e100248abccf4c908b3ef7715"),
    ((0, 1, 0, 1), "90f8313ef12df385d237a067aded02562c35ded12116e32eba401dbc86c38031",
     "284ea045e5a579e99c21ec597c20de1fc0c09e7168162aac00db8f61b3d82dbb"),
    ((0, 1, 0, 1, 2, 3), "52c826f99507aa05d0b45e9837fa1709e0485425cfbcb1e80db3905cf98b3ee9",
     "91d21684db364c8883ab8209fa5eb2e781cf07f37e1fa43e731c30839afe422f"),
])
def test_merkle_and_file_hashes_match_the_reference(idx, cas, file) -> None:
    assert hash_to_hex(merkle_root(leaves(*idx))) == cas
    assert hash_to_hex(file_hash(leaves(*idx))) == file


# -- the stock client ---------------------------------------------------------------------------
def test_stock_client_round_trip_through_xet(with_xet, server, alice: HfApi, bob: HfApi, tmp_path: Path) -> None:
    rid = f"alice/xet-{uuid.uuid4().hex[:8]}"
    alice.create_repo(rid)
    folder = tmp_path / "model"
    folder.mkdir()
    big = os.urandom(15 * 1000 * 1000)
    (folder / "weights.bin").write_bytes(big)
    (folder / "README.md").write_text("# demo\n")
    import numpy as np  # float weights: chunks the client compresses (LZ4 / byte-grouped LZ4)

    floats = np.linspace(0, 1, 3_000_000, dtype=np.float32).tobytes() + bytes(2_000_000)
    (folder / "floats.bin").write_bytes(floats)
    before = {p for p in (server.data_dir / "xet" / "xorbs").rglob("*") if p.is_file()}
    first = alice.upload_folder(repo_id=rid, folder_path=folder).oid
    new = {p for p in (server.data_dir / "xet" / "xorbs").rglob("*") if p.is_file()} - before
    stored = sum(p.stat().st_size for p in new)
    assert len(big) <= stored < len(big) + len(floats) / 2, "not through Xet, or nothing compressed"

    tree = {f.path: f for f in alice.list_repo_tree(rid)}
    sha = hashlib.sha256(big).hexdigest()
    assert tree["weights.bin"].lfs.sha256 == sha and tree["weights.bin"].size == len(big)
    alice.create_tag(rid, tag="v1")
    alice.create_branch(rid, branch="dev")
    (folder / "weights.bin").write_bytes(big[:5_000_000] + b"changed" + big[5_000_000:])
    alice.upload_folder(repo_id=rid, folder_path=folder, revision="dev")
    assert len(alice.list_repo_commits(rid, revision="dev")) == 3

    for rev in (first, "v1", "main"):
        path = hf_hub_download(rid, "weights.bin", revision=rev, endpoint=server.url, cache_dir=tmp_path / f"c-{rev}")
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha
    path = hf_hub_download(rid, "weights.bin", revision="dev", endpoint=server.url, cache_dir=tmp_path / "c-dev")
    assert Path(path).read_bytes() == big[:5_000_000] + b"changed" + big[5_000_000:]
    snap = Path(snapshot_download(rid, endpoint=server.url, cache_dir=tmp_path / "snap"))
    assert (snap / "README.md").read_text() == "# demo\n" and (snap / "weights.bin").stat().st_size == len(big)
    assert (snap / "floats.bin").read_bytes() == floats

    # the same file is a plain LFS object to a client without Xet (git, curl, an old hub)
    r = httpx.get(f"{server.url}/{rid}/resolve/main/weights.bin")
    assert r.status_code == 200 and r.headers["x-linked-etag"] == f'"{sha}"' and r.headers["x-xet-hash"]
    assert hashlib.sha256(r.content).hexdigest() == sha

    with pytest.raises(HfHubHTTPError) as err:  # bob may not write to alice's namespace, through Xet either
        bob.upload_file(path_or_fileobj=folder / "weights.bin", path_in_repo="x.bin", repo_id=rid)
    assert err.value.response.status_code == 403
    alice.delete_repo(rid)


def test_global_dedup_answers_the_stock_client(with_xet, server, alice: HfApi, tmp_path: Path, monkeypatch) -> None:
    """A second upload of the same bytes, from a client with an empty Xet cache, into another repo:
    the client finds the chunks through the dedup query (a shard with lookup tables it can read) and
    sends no xorb; the file is still complete in both repos."""
    import numpy as np

    data = np.random.default_rng(1).standard_normal(2_500_000).astype(np.float32).tobytes()
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    xorbs = server.data_dir / "xet" / "xorbs"
    sizes = []
    for n in range(2):
        monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / f"xet-cache-{n}"))
        rid = f"alice/dedup-{uuid.uuid4().hex[:8]}"
        alice.create_repo(rid)
        alice.upload_file(path_or_fileobj=str(path), path_in_repo="w.bin", repo_id=rid)
        sizes.append(sum(p.stat().st_size for p in xorbs.rglob("*") if p.is_file()))
        got = hf_hub_download(rid, "w.bin", endpoint=server.url, cache_dir=tmp_path / f"dl-{n}")
        assert Path(got).read_bytes() == data
    assert sizes[1] == sizes[0], "the second upload sent its chunks again"


# -- raw protocol: tokens and refusals --------------------------------------------------------------
def xet_token(server, token: str | None, repo: str, kind: str = "write") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/api/models/{repo}/xet-{kind}-token/main", headers=headers)


def cas(server, method: str, path: str, token: str | None, **kw) -> httpx.Response:
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, f"{server.url}/api/xet{path}", headers=headers, **kw)


@pytest.fixture
def repos(alice: HfApi, bob: HfApi) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    ids = {"alice": f"alice/x-{tag}", "bob_private": f"bob/secret-{tag}"}
    alice.create_repo(ids["alice"])
    bob.create_repo(ids["bob_private"], private=True)
    return ids


def test_token_endpoints_refuse_like_the_hub(server, repos) -> None:
    assert xet_token(server, None, repos["alice"]).status_code == 401
    assert xet_token(server, "wrong-token", repos["alice"]).status_code == 401
    assert xet_token(server, "bob-token", repos["alice"]).status_code == 403
    assert xet_token(server, "alice-token", repos["bob_private"], "read").status_code == 404
    assert xet_token(server, None, repos["bob_private"], "read").status_code == 404
    ok = xet_token(server, None, repos["alice"], "read")  # public read needs no token
    assert ok.status_code == 200 and ok.json()["casUrl"] == f"{server.url}/api/xet"
    body = xet_token(server, "alice-token", repos["alice"]).json()
    assert "alice-token" not in body["accessToken"] and body["exp"] > 0


def test_cas_refuses_missing_forged_and_read_only_tokens(server, repos) -> None:
    name, blob = xb.xorb([b"a" * 1000])
    assert cas(server, "POST", f"/v1/xorbs/default/{name}", None, content=blob).status_code == 401
    assert cas(server, "POST", f"/v1/xorbs/default/{name}", "alice-token", content=blob).status_code == 401
    good = xet_token(server, "alice-token", repos["alice"]).json()["accessToken"]
    forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    assert cas(server, "POST", f"/v1/xorbs/default/{name}", forged, content=blob).status_code == 401
    read = xet_token(server, "alice-token", repos["alice"], "read").json()["accessToken"]
    assert cas(server, "POST", f"/v1/xorbs/default/{name}", read, content=blob).status_code == 403
    assert cas(server, "POST", "/v1/shards", read, content=xb.shard([])).status_code == 403
    assert not (server.data_dir / "xet" / "xorbs" / name[:2] / name).exists()


@pytest.mark.parametrize("case", ["wrong hash", "truncated", "lying length", "bad compression"])
def test_malformed_xorbs_are_refused_and_not_stored(server, repos, case) -> None:
    token = xet_token(server, "alice-token", repos["alice"]).json()["accessToken"]
    name, blob = xb.xorb([os.urandom(3000), os.urandom(2000)])
    if case == "wrong hash":
        name = xb.xorb([b"other"])[0]
    elif case == "truncated":
        blob = blob[:-100]
    elif case == "lying length":
        blob = blob[:1] + (9000).to_bytes(3, "little") + blob[4:]
    else:
        blob = blob[:4] + bytes([1]) + blob[5:]  # says LZ4, holds raw bytes
    r = cas(server, "POST", f"/v1/xorbs/default/{name}", token, content=blob)
    assert r.status_code == 400, r.text
    assert not (server.data_dir / "xet" / "xorbs" / name[:2] / name).exists()


def upload_xorb(server, token: str, chunks: list[bytes]) -> str:
    name, blob = xb.xorb(chunks)
    r = cas(server, "POST", f"/v1/xorbs/default/{name}", token, content=blob)
    assert r.status_code == 200, r.text
    return name


def lfs_object(server, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return server.data_dir / "lfs" / "objects" / sha[:2] / sha[2:4] / sha


def test_shard_refusals_store_nothing(server, repos) -> None:
    token = xet_token(server, "alice-token", repos["alice"]).json()["accessToken"]
    chunks = [os.urandom(4000), os.urandom(5000)]
    never = xb.xorb(chunks)[0]  # never uploaded
    r = cas(server, "POST", "/v1/shards", token, content=xb.shard([{"terms": [(never, chunks, 0, 2)]}]))
    assert r.status_code == 400 and "never uploaded" in r.text
    name = upload_xorb(server, token, chunks)
    bad_proof = xb.shard([{"terms": [(name, chunks, 0, 2)], "verification": [b"\0" * 32]}])
    assert cas(server, "POST", "/v1/shards", token, content=bad_proof).status_code == 400
    wrong_sha = xb.shard([{"terms": [(name, chunks, 0, 2)], "sha256": "ab" * 32}])
    assert "sha256" in cas(server, "POST", "/v1/shards", token, content=wrong_sha).text
    wrong_id = xb.shard([{"terms": [(name, chunks, 0, 2)], "id": xb.file_id(chunks[:1])}])
    assert cas(server, "POST", "/v1/shards", token, content=wrong_id).status_code == 400
    past_end = xb.shard([{"terms": [(name, chunks + chunks, 1, 3)]}])
    assert cas(server, "POST", "/v1/shards", token, content=past_end).status_code == 400
    assert cas(server, "POST", "/v1/shards", token, content=b"HFRepo" + b"\0" * 60).status_code == 400
    assert not lfs_object(server, b"".join(chunks)).exists()
    ok = cas(server, "POST", "/v1/shards", token, content=xb.shard([{"terms": [(name, chunks, 0, 2)]}]))
    assert ok.status_code == 200 and not lfs_object(server, b"".join(chunks)).exists()  # one copy: the xorb


def test_another_users_private_xorb_cannot_be_referenced_probed_or_read(server, repos) -> None:
    bob_w = xet_token(server, "bob-token", repos["bob_private"]).json()["accessToken"]
    secret = [os.urandom(6000), os.urandom(7000)]
    name = upload_xorb(server, bob_w, secret)
    r = cas(server, "POST", "/v1/shards", bob_w, content=xb.shard([{"terms": [(name, secret, 0, 2)]}]))
    assert r.status_code == 200
    chunk = hash_to_hex(chunk_hash(secret[0]))

    alice_w = xet_token(server, "alice-token", repos["alice"]).json()["accessToken"]
    # a shard that knows every hash still cannot pull bob's private bytes into alice's repo
    steal = cas(server, "POST", "/v1/shards", alice_w, content=xb.shard([{"terms": [(name, secret, 0, 2)]}]))
    assert steal.status_code == 400
    # dedup never says whether bob's private repo holds a chunk ...
    assert cas(server, "GET", f"/v1/chunks/default-merkledb/{chunk}", alice_w).status_code == 404
    # ... but answers bob, with the chunk hashes keyed (HMAC) under a key in the footer
    answer = cas(server, "GET", f"/v1/chunks/default-merkledb/{chunk}", bob_w)
    assert answer.status_code == 200
    files, xorbs = read_shard(answer.content)
    assert not files and hash_to_hex(xorbs[0].xorb) == name and len(xorbs[0].chunks) == 2
    key = answer.content[-200 + 72:-200 + 104]
    assert key != bytes(32)
    # reconstruction needs a token for a repo that holds the file
    fid = xb.file_id(secret)
    assert cas(server, "GET", f"/v2/reconstructions/{fid}", alice_w).status_code == 404
    plan = cas(server, "GET", f"/v1/reconstructions/{fid}", bob_w)
    assert plan.status_code == 200
    fetch = plan.json()["fetch_info"][name][0]
    url, lo, hi = fetch["url"], fetch["url_range"]["start"], fetch["url_range"]["end"]
    data = httpx.get(url, headers={"Range": f"bytes={lo}-{hi}"})
    assert data.status_code == 206 and len(data.content) == hi - lo + 1
    assert httpx.get(url.replace("sig=", "sig=0"), headers={"Range": f"bytes={lo}-{hi}"}).status_code == 403
    assert httpx.get(url, headers={"Range": f"bytes={lo}-{hi + 10}"}).status_code == 403
    assert cas(server, "GET", f"/v1/chunks/elsewhere/{chunk}", bob_w).status_code == 400  # unknown prefix
    assert cas(server, "POST", f"/v1/xorbs/other/{name}", bob_w, content=b"").status_code == 400
    assert cas(server, "GET", "/v1/chunks/default-merkledb/xyz", bob_w).status_code == 400


def test_range_reconstruction_starts_inside_a_chunk(server, repos) -> None:
    token = xet_token(server, "alice-token", repos["alice"]).json()["accessToken"]
    chunks = [os.urandom(1000), os.urandom(1000), os.urandom(1000)]
    name = upload_xorb(server, token, chunks)
    assert cas(server, "POST", "/v1/shards", token, content=xb.shard([{"terms": [(name, chunks, 0, 3)]}])).status_code == 200
    read = xet_token(server, "alice-token", repos["alice"], "read").json()["accessToken"]
    fid = xb.file_id(chunks)
    body = cas(server, "GET", f"/v1/reconstructions/{fid}", read, headers={"Range": "bytes=1500-2100"}).json()
    assert body["offset_into_first_range"] == 500
    assert [(t["range"]["start"], t["range"]["end"]) for t in body["terms"]] == [(1, 3)]
    assert cas(server, "GET", f"/v1/reconstructions/{fid}", read, headers={"Range": "bytes=3000-"}).status_code == 416
    assert cas(server, "GET", "/v1/reconstructions/nothex", read).status_code == 400


def test_read_shard_rejects_truncation_and_trailing_bytes() -> None:
    name, _ = xb.xorb([b"x" * 100])
    body = xb.shard([{"terms": [(name, [b"x" * 100], 0, 1)]}])
    assert len(read_shard(body)[0]) == 1
    for bad in (body[:-10], body + b"junk", body[:40]):
        with pytest.raises(FormatError):
            read_shard(bad)
