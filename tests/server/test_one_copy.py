"""One copy of each byte: a file uploaded through Xet is stored as xorbs only, and every LFS reader
(plain HTTP resolve with Range, the LFS batch API's download action, the stock client without
hf_xet) gets it rebuilt from those xorbs; grants and the commit check still hold, and a data folder
from before (with LFS mirror copies) keeps working."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import httpx
from huggingface_hub import HfApi, constants, hf_hub_download

from .conftest import use_xet

AUTH = {"Authorization": "Bearer alice-token"}


def _lfs_files(server) -> list[Path]:
    return [p for p in (server.data_dir / "lfs" / "objects").rglob("*") if p.is_file()]


def _xet_upload(server, api: HfApi, data: bytes, tmp_path: Path, monkeypatch, name: str = "w.bin") -> str:
    use_xet(monkeypatch, tmp_path)
    rid = f"alice/one-{uuid.uuid4().hex[:8]}"
    api.create_repo(rid)
    api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id=rid)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    return rid


def _batch(server, rid: str, oid: str, size: int, op: str = "download", auth: dict | None = None) -> dict:
    r = httpx.post(f"{server.url}/{rid}.git/info/lfs/objects/batch", headers=auth or AUTH,
                   json={"operation": op, "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]})
    assert r.status_code == 200, r.text
    return r.json()["objects"][0]


def test_xet_file_is_stored_once_and_served_to_lfs_readers(server, alice: HfApi, tmp_path, monkeypatch) -> None:
    import numpy as np

    data = np.random.default_rng(7).standard_normal(1_500_000).astype(np.float32).tobytes()  # 6 MB, ~90 chunks
    sha = hashlib.sha256(data).hexdigest()
    before = set(_lfs_files(server))
    rid = _xet_upload(server, alice, data, tmp_path, monkeypatch)
    assert set(_lfs_files(server)) == before, "a second (LFS) copy was written"

    got = hf_hub_download(rid, "w.bin", endpoint=server.url, cache_dir=tmp_path / "plain")  # no hf_xet
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == sha
    url = f"{server.url}/{rid}/resolve/main/w.bin"
    for lo, hi in ((0, 0), (65_000, 200_123), (len(data) - 10, len(data) - 1), (1_000_000, 5_999_999)):
        part = httpx.get(url, headers={"Range": f"bytes={lo}-{hi}"})
        assert part.status_code == 206 and part.content == data[lo:hi + 1], (lo, hi)
    tail = httpx.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]
    assert httpx.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    assert httpx.get(url, headers={"Range": "pages=1-2"}).status_code == 400
    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data)) and not head.content

    obj = _batch(server, rid, sha, len(data))  # the LFS batch API: download action, signed URL
    href = obj["actions"]["download"]["href"]
    whole = httpx.get(href)
    assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == sha
    assert httpx.get(href, headers={"Range": "bytes=10-19"}).content == data[10:20]
    assert httpx.get(href.replace("sig=", "sig=0")).status_code == 403
    assert _batch(server, rid, sha, len(data) + 1)["error"]["code"] == 422
    assert _batch(server, rid, "0" * 64, 5)["error"]["code"] == 404

    # the same bytes pushed over classic LFS into another repo: accepted, still one copy
    other = f"alice/one-lfs-{uuid.uuid4().hex[:8]}"
    alice.create_repo(other)
    alice.upload_file(path_or_fileobj=data, path_in_repo="copy.bin", repo_id=other)
    assert set(_lfs_files(server)) == before
    got = hf_hub_download(other, "copy.bin", endpoint=server.url, cache_dir=tmp_path / "plain2")
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == sha


def test_grants_still_hold_for_xet_only_files(server, alice: HfApi, bob: HfApi, tmp_path, monkeypatch) -> None:
    data = os.urandom(300_000)
    sha = hashlib.sha256(data).hexdigest()
    rid = _xet_upload(server, alice, data, tmp_path, monkeypatch)
    mine = f"bob/steal-{uuid.uuid4().hex[:8]}"
    bob.create_repo(mine)
    bob_auth = {"Authorization": "Bearer bob-token"}
    assert _batch(server, mine, sha, len(data), auth=bob_auth)["error"]["code"] == 404
    upload = _batch(server, mine, sha, len(data), op="upload", auth=bob_auth)
    assert "upload" in upload["actions"], "bob was told he has bytes he never uploaded"
    hidden = f"alice/hidden-{uuid.uuid4().hex[:8]}"  # a private repo: no batch answer for others at all
    alice.create_repo(hidden, private=True)
    href = _batch(server, rid, sha, len(data))["actions"]["download"]["href"]
    for auth in ({}, bob_auth):
        r = httpx.post(f"{server.url}/{hidden}.git/info/lfs/objects/batch", headers=auth,
                       json={"operation": "download", "objects": [{"oid": sha, "size": len(data)}]})
        assert r.status_code == 404
    assert httpx.get(href.replace(f"/{rid}.git/", f"/{mine}.git/")).status_code == 403  # signed for one repo
    # a commit naming the sha256 without uploading it is refused: knowing a hash is not having the bytes
    body = "\n".join([
        '{"key": "header", "value": {"summary": "steal", "description": ""}}',
        '{"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256", "oid": "%s", "size": %d}}' % (sha, len(data)),
    ])
    r = httpx.post(f"{server.url}/api/models/{mine}/commit/main", content=body,
                   headers={**bob_auth, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 400 and "was not uploaded" in r.text
    # and alice's own commit endpoint counts the Xet file as stored
    r = httpx.post(f"{server.url}/api/models/{rid}/commit/main", headers={**AUTH, "Content-Type": "application/x-ndjson"},
                   content=body.replace("steal", "again").replace("x.bin", "again.bin"))
    assert r.status_code == 200, r.text
    got = hf_hub_download(rid, "again.bin", endpoint=server.url, cache_dir=tmp_path / "again")
    assert Path(got).read_bytes() == data


def test_a_data_folder_with_mirror_copies_keeps_working(server, alice: HfApi, tmp_path, monkeypatch) -> None:
    """Before: every Xet file also had an LFS object. Such a copy is served as it is (from the file)."""
    data = os.urandom(400_000)
    sha = hashlib.sha256(data).hexdigest()
    rid = _xet_upload(server, alice, data, tmp_path, monkeypatch)
    mirror = server.data_dir / "lfs" / "objects" / sha[:2] / sha[2:4] / sha
    mirror.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "m").write_bytes(data)
    shutil.copyfile(tmp_path / "m", mirror)  # what the old server wrote
    try:
        part = httpx.get(f"{server.url}/{rid}/resolve/main/w.bin", headers={"Range": "bytes=5-9"})
        assert part.status_code == 206 and part.content == data[5:10]
        whole = httpx.get(f"{server.url}/{rid}/resolve/main/w.bin")
        assert whole.content == data and "last-modified" in whole.headers  # sent from the file itself
    finally:
        mirror.unlink()


def test_a_shard_cannot_claim_someone_elses_sha256(server, alice: HfApi, bob: HfApi) -> None:
    """The claim grants the sha256, so it is always checked against the chunks. (The old mirror
    skipped the check when an LFS object of that sha256 existed: bob's private file was one
    forged shard away.)"""
    from . import xet_build as xb

    secret = os.urandom(200_000)
    private = f"bob/private-{uuid.uuid4().hex[:8]}"
    bob.create_repo(private, private=True)
    bob.upload_file(path_or_fileobj=secret, path_in_repo="secret.bin", repo_id=private)  # classic LFS
    target = hashlib.sha256(secret).hexdigest()

    rid = f"alice/forge-{uuid.uuid4().hex[:8]}"
    alice.create_repo(rid)
    token = httpx.get(f"{server.url}/api/models/{rid}/xet-write-token/main", headers=AUTH).json()["accessToken"]
    cas = {"Authorization": f"Bearer {token}"}
    chunks = [os.urandom(3000)]
    name, blob = xb.xorb(chunks)
    assert httpx.post(f"{server.url}/api/xet/v1/xorbs/default/{name}", headers=cas, content=blob).status_code == 200
    forged = xb.shard([{"terms": [(name, chunks, 0, 1)], "sha256": target}])
    r = httpx.post(f"{server.url}/api/xet/v1/shards", headers=cas, content=forged)
    assert r.status_code == 400 and "sha256" in r.text
    assert _batch(server, rid, target, len(secret))["error"]["code"] == 404  # not granted to alice
