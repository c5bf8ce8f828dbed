"""``hub export --bench``: torch eager vs every kept variant of an export, on its own test samples.

Above :mod:`hub.exporting.bench` (the timing primitives the edge rule also uses), because it loads
runs and ensembles: keeping it apart keeps the primitives free of the export pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .bench import bench_engines


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    header = ("engine", "p50 ms", "p95 ms", "x eager", "thr/s@32", "x eager", "size MB", "RSS +MB")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for r in rows:
        lines.append(" | ".join([
            r["engine"], f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}", f"{r.get('speedup_p50', float('nan')):.2f}",
            f"{r['throughput_per_s']:.1f}", f"{r.get('speedup_throughput', float('nan')):.2f}",
            "-" if r["size_mb"] is None else f"{r['size_mb']:.1f}", f"{r['rss_delta_mb']:.0f}"]))
    return "\n".join(lines)


def bench_export(export_dir: Path, *, threads: int = 2, iters: int = 50, batch: int = 32,
                 registry: Any = None, torch_eager: bool = True) -> dict[str, Any]:
    """Measure torch eager (rebuilt from the export's weights) and every kept variant of an export."""
    bench = prepare(export_dir, batch=batch, registry=registry)
    rows = bench_engines(bench.model if torch_eager else None, bench.input_names, bench.files, bench.single,
                         bench.full, threads=threads, iters=iters)
    return {"export_dir": str(export_dir), "threads": threads, "iters": iters, "batch": batch, "rows": rows,
            "inputs": bench.inputs, "preferred_variant": bench.config.get("preferred_variant")}


@dataclass
class Prepared:
    """What timing an export needs: its model rebuilt in PyTorch, its variant files and real test feeds."""
    config: dict[str, Any]
    info: Any
    model: Any
    input_names: tuple[str, ...]
    files: dict[str, Path]
    single: list[dict[str, np.ndarray]]  # batch-1 feeds (up to 32 real test samples)
    full: dict[str, np.ndarray]  # one batch of ``batch`` samples
    inputs: str  # in words, for the report


def prepare(export_dir: Path, *, batch: int = 32, registry: Any = None) -> Prepared:
    from ..plugins import get_hub
    from ..runtime import read_config
    from ..training.rundir import load_run
    from . import samples
    from .package import WEIGHTS

    export_dir = Path(export_dir)
    config = read_config(export_dir)
    if "ensemble" in config:  # members' weights live in members/NAME/
        from .ensemble import load_ensemble_export

        info, comps, model = load_ensemble_export(export_dir, config, registry or get_hub().registry)
    else:
        info, comps, model = load_run(export_dir, registry or get_hub().registry, weights=WEIGHTS)
    names = comps.backbone_spec.input_names
    encode = samples.make_encoder(info.input, names, export_dir if info.modality == "text" else None)
    raw, labels = samples.split_samples(samples.load_dataset(info, comps), "test", max(batch, 64))
    single = [feeds for feeds, _ in samples.batches(raw, labels, encode, 1, limit=32)]
    full = samples.batches(raw, labels, encode, batch, limit=batch)[0][0]
    files = {name: export_dir / entry["file"] for name, entry in config["variants"].items()}
    files = dict(sorted(files.items(), key=lambda kv: kv[0] != "fp32"))
    lengths = sorted({int(f["input_ids"].shape[1]) for f in single}) if "input_ids" in names else None
    inputs = "real test samples" + (f", batch-1 sequence lengths {lengths[0]}-{lengths[-1]}" if lengths else "")
    return Prepared(config, info, model, tuple(names), files, single, full, inputs)
