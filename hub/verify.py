"""The last stage of ``hub run``: pull what was published and check it the way a deployer runs it.

The gate compared ONNX with PyTorch inside the export folder; this stage
closes the loop outside it: the pushed revision is pulled into a fresh folder
(sha256 of every file checked against the manifest), each variant is opened
with ``hub.runtime`` alone (onnxruntime + numpy, the deployer's path), and the
recipe's whole test split is classified. The result says, per variant, the
metric next to PyTorch's and the top-1 agreement with the fp32 model, so a
broken upload, a wrong preprocessing step or a variant that only passed on the
gate's sample cannot hide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .progress import bar as progress_bar
from .errors import HubError, VerificationError  # noqa: F401 (defined in hub.errors, importable here)


def verify_published(repo_id: str, commit: str, out: Path, test_split: Any, *, endpoint: str | None = None,
                     pytorch_accuracy: float | None = None, max_drop_points: float = 1.0) -> dict[str, Any]:
    """Pull ``repo_id@commit`` into ``out`` and classify ``test_split`` with every published variant."""
    from .publish import pull_dir
    from .runtime import load

    pulled = pull_dir(repo_id, out, commit, endpoint=endpoint)
    inputs = test_split.inputs if hasattr(test_split.inputs, "shape") else list(test_split.inputs)
    labels = np.asarray(test_split.labels)
    fp32_labels = None
    variants: dict[str, Any] = {}
    first = load(pulled.path)
    names = ["fp32"] + sorted(v for v in first.config.get("variants", {}) if v != "fp32")
    for name in progress_bar(names, desc=f"hub.runtime on {len(labels)} test examples", unit="variant"):
        model = first if name == first.variant else load(pulled.path, variant=name)
        label2id = model.config["label2id"]
        predicted = np.array([label2id[p["label"]] for p in model.predict(inputs)])
        if fp32_labels is None:
            fp32_labels = predicted
        entry = model.config["variants"].get(name, {})
        variants[name] = {"accuracy": float((predicted == labels).mean()),
                          "top1_agreement_vs_fp32": float((predicted == fp32_labels).mean()),
                          "size_bytes": entry.get("size_bytes"), "latency_ms_p50": entry.get("latency_ms_p50")}
    result = {"repo_id": repo_id, "commit_sha": pulled.commit_sha, "folder": str(pulled.path),
              "files_verified": pulled.files, "samples": int(len(labels)), "pytorch_accuracy": pytorch_accuracy,
              "variants": variants}
    if pytorch_accuracy is not None:
        drop = 100.0 * (pytorch_accuracy - variants["fp32"]["accuracy"])
        result["fp32_drop_points"] = round(drop, 4)
        if drop > max_drop_points:
            raise VerificationError(
                f"the published fp32 model {repo_id}@{commit[:12]} scores {variants['fp32']['accuracy']:.4f} on the "
                f"{len(labels)} test examples through hub.runtime, {drop:.2f} points below PyTorch's "
                f"{pytorch_accuracy:.4f} (budget {max_drop_points}); the export or its preprocessing is wrong")
    return result
