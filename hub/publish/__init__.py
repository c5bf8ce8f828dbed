"""Publishing exports to Hugging Face-compatible hubs, and pulling them back verified.

* :func:`push` publishes an export folder (``hub export``) as one commit with a generated model
  card and ``hub_manifest.json`` (sha256 + size of every file); identical content makes no commit.
* :func:`snapshot` downloads a pinned revision into the HF cache and verifies every file against
  the manifest (``hub.runtime.load("ns/name@rev")`` uses it); :func:`pull_dir` writes a plain
  folder atomically (``hub pull --out``).
* Without ``HF_ENDPOINT``/``endpoint`` and without a token, both use an embedded local
  ``hub serve`` (:mod:`hub.publish.embedded`), so publishing works offline out of the box.

Only data formats travel (safetensors, ONNX, JSON, text, PNG, ``.pb``); pickles are refused both
ways. Heavy imports (huggingface_hub) happen inside the functions.
"""

from __future__ import annotations

from .files import IntegrityError, PublishError, RefusedFile
from .pull import PullResult, pull_dir, snapshot, split_ref
from .push import PushResult, push

__all__ = ["IntegrityError", "PublishError", "PullResult", "PushResult", "RefusedFile", "pull_dir", "push",
           "snapshot", "split_ref"]
