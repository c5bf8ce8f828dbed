"""Where content-addressed bytes live: a folder on local disk, or an S3 bucket.

LFS objects and Xet xorbs are immutable and named by their hash, so all a store needs is: put a
complete object (it becomes visible only whole), its size, a byte range as a stream, delete, list
and sum. :class:`LocalObjects` keeps the exact layout the server always had under the data folder
(``lfs/objects/ab/cd/<sha256>``, ``xet/xorbs/ab/<hash>``); :class:`S3Objects` keeps the same keys
under ``s3://BUCKET/PREFIX/`` (git metadata and the Xet index stay on local disk either way).

Puts always start from a complete, checked local temp file: locally it is renamed into place, to
S3 it is uploaded with one PUT (multipart above 64 MiB, aborted by boto3 on failure), so a reader
never sees half an object. An unreachable bucket during a request is :func:`unavailable` (503 with
``Retry-After``); at start-up it is :class:`StorageError`, one line naming the endpoint. The keys
never appear in any message: botocore's own loggers, which can print request headers at DEBUG,
are held at WARNING.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from .errors import ServerError

logger = logging.getLogger(__name__)

BLOCK = 1 << 20
RETRY_AFTER_S = 1


class StorageError(RuntimeError):
    """Object storage cannot be used at start-up (one line, names the endpoint, never the keys)."""


def unavailable(what: str) -> ServerError:
    """503 the client retries (huggingface_hub honours ``Retry-After``); nothing half-written stays."""
    return ServerError(503, f"Object storage is unreachable ({what}); nothing was stored. Retry in a few seconds",
                       headers={"Retry-After": str(RETRY_AFTER_S)})


class Objects(Protocol):
    """What the LFS and Xet stores need from a place that keeps immutable objects by key."""

    def local_path(self, key: str) -> Path | None: ...
    def put_file(self, key: str, path: Path) -> bool: ...
    def size(self, key: str) -> int | None: ...
    def open_range(self, key: str, start: int, end: int) -> IO[bytes]: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> Iterator[str]: ...
    def entries(self) -> Iterator[tuple[str, int, float]]: ...  # (key, size, last modified): what gc weighs
    def bytes_stored(self) -> int: ...


def iter_range(objects: Objects, key: str, start: int, end: int, block: int = BLOCK) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of an object in blocks; opened before the first ``next`` returns."""
    fh = objects.open_range(key, start, end)
    try:
        left = end - start
        while left > 0:
            part = fh.read(min(block, left))
            if not part:
                raise ServerError(500, f"Object {key} ended {left} bytes early")
            left -= len(part)
            yield part
    finally:
        fh.close()


class LocalObjects:
    """Objects as files under ``root`` (key ``ab/cd/x`` is the file ``root/ab/cd/x``)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"local folder {self.root}"

    def local_path(self, key: str) -> Path | None:
        return self.root / key

    def put_file(self, key: str, path: Path) -> bool:
        """Rename the complete, fsynced ``path`` into place; ``False`` if the object was there."""
        final = self.root / key
        if final.exists():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)
        return True

    def size(self, key: str) -> int | None:
        try:
            return (self.root / key).stat().st_size
        except FileNotFoundError:
            return None

    def open_range(self, key: str, start: int, end: int) -> IO[bytes]:
        fh = open(self.root / key, "rb")
        fh.seek(start)
        return fh

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                yield path.relative_to(self.root).as_posix()

    def entries(self) -> Iterator[tuple[str, int, float]]:
        for path in sorted(self.root.rglob("*")):
            with contextlib.suppress(FileNotFoundError):  # removed while listed
                st = path.stat()
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), st.st_size, st.st_mtime

    def bytes_stored(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


def parse_storage(storage: str) -> tuple[str, str]:
    """``s3://BUCKET[/PREFIX]`` -> ``(bucket, prefix)`` (prefix without slashes at either end)."""
    if not storage.startswith("s3://") or not storage[5:].split("/", 1)[0]:
        raise StorageError(f"--storage {storage!r} is not understood: use s3://BUCKET[/PREFIX] "
                           "(endpoint and keys come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
    bucket, _, prefix = storage[5:].partition("/")
    return bucket, prefix.strip("/")


def s3_client() -> Any:
    """A boto3 S3 client from the standard AWS variables; short timeouts, few retries, quiet loggers."""
    import boto3
    from botocore.config import Config

    for name in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).getEffectiveLevel()))
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"},
                    max_pool_connections=32)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session().client("s3", region_name=region, config=config)


def _unusable(exc: BaseException) -> str | None:
    """Why the bucket cannot serve this request (down, refusing, throttling), or ``None`` for "no such
    object" (a 404 the caller handles) and for errors that are not the bucket's."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return None if status == 404 else f"HTTP {status}"  # 403 at run time: keys revoked, bucket policy
    return type(exc).__name__ if isinstance(exc, BotoCoreError) else None


class S3Objects:
    """Objects in ``bucket`` under ``prefix/`` with the same keys as :class:`LocalObjects`."""

    def __init__(self, client: Any, bucket: str, prefix: str, endpoint: str):
        self.client, self.bucket, self.prefix, self.endpoint = client, bucket, prefix.strip("/"), endpoint

    def __repr__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            why = _unusable(exc)
            if why is not None:
                logger.warning("object storage %s: %s failed: %s", self, what, why)
                raise unavailable(what) from None
            raise

    def local_path(self, key: str) -> Path | None:
        return None

    def put_file(self, key: str, path: Path) -> bool:
        """Upload a complete local file (S3 makes it visible only once whole); ``False`` if there."""
        if self.size(key) is not None:
            return False
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20, use_threads=False)
        logger.debug("storing %s in %s", key, self)
        self._call(f"storing {key}", self.client.upload_file, str(path), self.bucket, self._key(key), Config=config)
        return True

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self._call(f"looking up {key}", self.client.head_object, Bucket=self.bucket,
                                  Key=self._key(key))["ContentLength"])
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise

    def open_range(self, key: str, start: int, end: int) -> IO[bytes]:
        if end <= start:
            import io

            return io.BytesIO()
        return self._call(f"reading {key}", self.client.get_object, Bucket=self.bucket, Key=self._key(key),
                          Range=f"bytes={start}-{end - 1}")["Body"]

    def delete(self, key: str) -> None:
        self._call(f"deleting {key}", self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def _listing(self) -> Iterator[dict]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(""))
        for page in self._call("listing", list, pages):
            yield from page.get("Contents", [])

    def keys(self) -> Iterator[str]:
        cut = len(self._key(""))
        for item in self._listing():
            yield item["Key"][cut:]

    def entries(self) -> Iterator[tuple[str, int, float]]:
        cut = len(self._key(""))
        for item in self._listing():
            yield item["Key"][cut:], int(item["Size"]), item["LastModified"].timestamp()

    def bytes_stored(self) -> int:
        return sum(int(item["Size"]) for item in self._listing())


def open_objects(storage: str | None, data_dir: Path, sub: str) -> Objects:
    """The store for ``sub`` (``lfs/objects`` or ``xet/xorbs``): under ``data_dir``, or in the bucket.

    With a bucket, the bucket is probed once here, so a wrong endpoint, bucket or key stops the
    server at start-up with one line instead of failing the first upload.
    """
    if not storage:
        return LocalObjects(Path(data_dir) / sub)
    bucket, prefix = parse_storage(storage)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    client = s3_client()
    try:
        client.head_bucket(Bucket=bucket)
    except Exception as exc:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            why = "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        elif isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            why = {404: "the bucket does not exist", 403: "access denied (check the keys)"}.get(
                status, f"it answered HTTP {status}")
        else:
            why = f"it does not answer ({type(exc).__name__})"
        raise StorageError(f"object storage s3://{bucket} at {endpoint} cannot be used: {why}") from None
    return S3Objects(client, bucket, f"{prefix}/{sub}" if prefix else sub, endpoint)
