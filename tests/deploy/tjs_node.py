"""Drive transformers.js (tests/js, Node) on a repo served by ``hub serve``; compare with ``hub.runtime``.

Used by tests/deploy/test_transformersjs.py and bench/transformersjs_agreement.py. Node and the
pinned npm packages are a set-up requirement, not an optional extra: when either is missing,
:func:`require_node` raises with the command that installs them, so a test cannot skip silently.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"
SCRIPT = JS / "classify.mjs"
PACKAGES = ("@huggingface/transformers", "onnxruntime-node", "sharp")


def require_node() -> str:
    """The ``node`` executable, after checking tests/js's packages are installed; else RuntimeError."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: install Node.js >= 18, then run `make setup` "
                           "(npm ci --prefix tests/js installs transformers.js)")
    missing = [p for p in PACKAGES if not (JS / "node_modules" / p / "package.json").is_file()]
    if missing:
        raise RuntimeError(f"tests/js/node_modules lacks {', '.join(missing)}: run `make setup` "
                           f"(npm ci --prefix tests/js --ignore-scripts)")
    return node


def pipeline(endpoint: str, repo: str, revision: str, task: str, inputs: Sequence[str], cache_dir: Path,
             timeout: float = 600) -> dict[str, Any]:
    """transformers.js ``pipeline(task, repo)`` from ``endpoint`` on ``inputs`` (image paths or texts).

    Returns classify.mjs's JSON: ``version``, ``dtype`` and one top-1 ``{label, score}`` per input.
    """
    node = require_node()
    cache_dir.mkdir(parents=True, exist_ok=True)
    job = cache_dir / "job.json"
    job.write_text(json.dumps({"endpoint": endpoint, "repo": repo, "revision": revision, "task": task,
                               "cache_dir": str(cache_dir / "transformers"), "inputs": list(inputs)}))
    env = {"PATH": str(Path(node).parent), "HOME": str(cache_dir)}  # no ambient HF_TOKEN, proxies or caches
    done = subprocess.run([node, str(SCRIPT), str(job)], capture_output=True, text=True, cwd=JS, env=env, check=False,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"transformers.js failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout)
    if len(result["predictions"]) != len(inputs):
        raise RuntimeError(f"transformers.js answered {len(result['predictions'])} of {len(inputs)} inputs")
    return result


def pixel_values(folder: Path, images: Sequence[str]) -> list[Any]:
    """What transformers.js's image processor makes of ``images`` with ``folder``'s preprocessor_config.json."""
    import numpy as np

    node = require_node()
    done = subprocess.run([node, str(JS / "preprocess.mjs"), str(folder), *images], capture_output=True, text=True,
                          cwd=JS, env={"PATH": str(Path(node).parent)}, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"transformers.js failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return [np.asarray(item["data"], dtype=np.float32).reshape(item["dims"]) for item in json.loads(done.stdout)]


def write_inputs(raw: Any, modality: str, folder: Path) -> list[str]:
    """Test-split examples as what both runtimes read: PNG files (as the export's samples) or texts."""
    if modality == "text":
        return [str(t) for t in raw]
    from hub.exporting.package import _png

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(raw):
        path = folder / f"{i}.png"
        _png(item).save(path, format="PNG")
        paths.append(str(path))
    return paths


def runtime_labels(export_dir: Path, inputs: Sequence[str], batch: int = 64) -> list[str]:
    """``hub.runtime``'s top-1 labels for the same inputs (fp32, the variant transformers.js loads)."""
    from hub.runtime import load

    model = load(export_dir, variant="fp32")
    labels: list[str] = []
    for i in range(0, len(inputs), batch):
        labels += [p["label"] for p in model.predict(list(inputs[i:i + batch]))]
    return labels


def agreement(a: Sequence[str], b: Sequence[str]) -> float:
    if len(a) != len(b) or not a:
        raise ValueError(f"cannot compare {len(a)} with {len(b)} labels")
    return sum(x == y for x, y in zip(a, b)) / len(a)
