"""The first rows of a dataset repo's parquet files, for its web page.

A preview reads untrusted files, so every step has a budget and every failure is a note on the page,
never a 500: a file too large to fetch, a file that is not parquet, a cell too large to show. Image
cells (``datasets``' ``Image`` feature is stored as a ``{bytes, path}`` struct) are decoded with Pillow
and re-encoded as small PNG thumbnails, so whatever the file held (an SVG, a decompression bomb), the
page only ever embeds pixels we made; text goes to the template, which escapes it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_FILE_BYTES = 32 << 20  # larger parquet files are listed, not previewed
MAX_FILES = 3
ROWS = 8
MAX_COLUMNS = 16
MAX_TEXT = 160
MAX_IMAGE_BYTES = 4 << 20
MAX_IMAGE_PIXELS = 4096 * 4096
THUMB = 64


@dataclass
class Preview:
    path: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[dict]] = field(default_factory=list)  # each cell: {"text": ...} or {"image": data-URI}
    note: str = ""


def previews(files: list[dict], read: Callable[[str], bytes | None]) -> list[Preview]:
    """Previews of the first parquet files in ``files`` (page siblings with ``path`` and ``size``).

    ``read(path)`` returns the file's bytes, or ``None`` when they cannot be had (the note says so).
    """
    out = []
    for f in [f for f in files if f["path"].endswith(".parquet")][:MAX_FILES]:
        if (f.get("size") or 0) > MAX_FILE_BYTES:
            out.append(Preview(f["path"], note=f"too large to preview here ({f['size']} bytes)"))
            continue
        data = read(f["path"])
        out.append(Preview(f["path"], note="the file's bytes are not available") if data is None
                   else parquet_preview(f["path"], data))
    return out


def parquet_preview(path: str, data: bytes) -> Preview:
    """The first :data:`ROWS` rows of one parquet file, or a note saying why not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        names = pf.schema_arrow.names
        batch = next(pf.iter_batches(batch_size=ROWS, columns=names[:MAX_COLUMNS]), None)
    except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return Preview(path, note=f"not a readable parquet file: {first}")
    if batch is None:
        return Preview(path, columns=names[:MAX_COLUMNS], note="no rows")
    columns = batch.schema.names
    rows = [[_cell(v) for v in row.values()] for row in batch.to_pylist()]
    more = f"; {len(names) - MAX_COLUMNS} more column(s) not shown" if len(names) > MAX_COLUMNS else ""
    return Preview(path, columns=columns, rows=rows, note=f"first {len(rows)} of {pf.metadata.num_rows} rows{more}")


def _cell(value: Any) -> dict:
    if isinstance(value, dict) and isinstance(value.get("bytes"), (bytes, bytearray)):
        thumb = _thumbnail(bytes(value["bytes"]))
        return {"image": thumb} if thumb else {"text": f"<image: {len(value['bytes'])} bytes, not decodable>"}
    if isinstance(value, (bytes, bytearray)):
        return {"text": f"<{len(value)} bytes>"}
    text = "" if value is None else str(value)
    return {"text": text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"}


def _thumbnail(data: bytes) -> str | None:
    """A PNG data URI of at most THUMB x THUMB pixels, or ``None`` when the bytes are no image we accept."""
    if len(data) > MAX_IMAGE_BYTES:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                return None
            img.thumbnail((THUMB, THUMB))
            out = io.BytesIO()
            img.convert("RGBA" if "A" in img.getbands() else "RGB").save(out, format="PNG")
    except Exception:  # noqa: BLE001 - any undecodable image is just not shown
        return None
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
