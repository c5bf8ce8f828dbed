"""Streaming a stored object (or a file rebuilt from xorbs) to a client, with HEAD and ``Range``.

Local objects keep going through Starlette's ``FileResponse``; this is the path for bytes that are
not one local file: an object in an S3 bucket (streamed through the server, since clients may not
reach the bucket's endpoint) or a Xet file reassembled from its chunks. The first block is read
before the status line is sent, so an unreachable bucket is a 503 the client can retry rather than
a 200 cut short; ``datasets`` streaming and resumed downloads send one ``bytes=`` range, which is
answered 206 (several ranges in one header are answered whole, which HTTP allows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from .errors import ServerError

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class LocalFile(FileResponse):
    """Starlette's file response in 1 MiB reads instead of 64 KiB: one worker-thread read, event-loop
    round and h11 send per MiB (bench/hub_throughput.py download, this tree, 200 MB: 245 -> 300 MB/s
    in back-to-back runs on a shared machine; the same size the bucket path streams in)."""

    chunk_size = 1 << 20


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` asked for by a ``Range`` header, ``None`` for the whole object."""
    if not header or "," in header:
        return None
    m = RANGE_RE.match(header.strip())
    if not m or not (m.group(1) or m.group(2)):
        raise ServerError(400, f"Malformed Range header {header[:80]!r}: expected bytes=START-END")
    if not m.group(1):  # the last N bytes
        start, end = max(size - int(m.group(2)), 0), size
    else:
        start = int(m.group(1))
        end = min(int(m.group(2)) + 1, size) if m.group(2) else size
    if start >= size or end <= start:
        raise ServerError(416, f"Range {header[:80]} is outside the object ({size} bytes)",
                          headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def opened(make: Callable[[], Iterator[bytes]]) -> Iterator[bytes]:
    """``make()``'s blocks, its first one already read (in a worker thread): storage errors raise here."""

    def first() -> tuple[bytes, Iterator[bytes]]:
        it = make()
        return next(it, b""), it

    head, rest = await anyio.to_thread.run_sync(first)

    def chain() -> Iterator[bytes]:
        if head:
            yield head
        yield from rest

    return chain()


async def stream_object(request: Request, size: int, headers: dict[str, str],
                        read: Callable[[int, int], Iterator[bytes]]) -> Response:
    """A 200/206 answer (or headers only, for HEAD) whose body is ``read(start, end)``."""
    span = parse_range(request.headers.get("range"), size)
    start, end = span or (0, size)
    headers = {**headers, "Accept-Ranges": "bytes", "Content-Length": str(end - start)}
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    if request.method.upper() == "HEAD":
        return Response(status_code=status, headers=headers, media_type="application/octet-stream")
    body = await opened(lambda: read(start, end)) if end > start else iter(())
    return StreamingResponse(body, status_code=status, headers=headers, media_type="application/octet-stream")
