"""Write a registered dataset (e.g. ``digits``) as a folder of parquet files: ``hub dataset export``.

The files are what ``hub dataset push`` publishes and ``hub train --dataset parquet:DIR`` reads: one
``SPLIT-00000-of-00001.parquet`` per split (the names ``datasets`` infers splits from), an ``Image``
column (PNG bytes) or a ``text`` string column, and a ``ClassLabel`` column carrying the label
names, written by ``datasets`` so the features travel in the parquet schema.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import DataError


def export_dataset(registry: Any, name: str, out: Path, options: dict[str, Any] | None = None) -> dict[str, int]:
    """Write dataset ``name`` to ``out`` (new or empty, replaced atomically); returns rows per split."""
    from ..data import load_component
    from ..fsutil import atomic_dir, check_output_dir

    out = Path(out)
    check_output_dir(out, "`hub dataset export` folder", flag="DIR")
    component = registry.get("dataset", name)
    data = load_component(component, options or {})
    try:
        import datasets
    except ImportError:
        raise DataError("writing parquet needs the `datasets` library: pip install 'zoohub[train]'") from None
    column = "image" if data.modality == "image" else "text"
    features = datasets.Features({column: datasets.Image() if column == "image" else datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(data.label_names))})
    rows = {}
    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with atomic_dir(out) as tmp:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # a folder for people to read, not mkdtemp's 0700
            for split, part in data.splits.items():
                if part.labels is None:
                    continue
                table = datasets.Dataset.from_dict(
                    {column: _cells(part.inputs, column), "label": [int(v) for v in part.labels]}, features=features)
                table.to_parquet(str(tmp / f"{split}-00000-of-00001.parquet"))
                rows[split] = len(table)
    finally:
        if was:
            datasets.enable_progress_bars()
    return rows


def _cells(inputs: Any, column: str) -> list[Any]:
    """Examples as ``datasets`` encodes them: arrays as images, image paths as their own bytes (not the path)."""
    if column == "text":
        return list(inputs)
    cells = []
    for item in inputs:
        if isinstance(item, (str, Path)):
            cells.append({"bytes": Path(item).read_bytes(), "path": Path(item).name})
        else:
            cells.append(item)
    return cells
