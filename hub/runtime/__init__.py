"""What a deployer imports: run an exported hub model with onnxruntime and numpy alone.

``hub.runtime.load(path_or_repo)`` reads the export's ``config.json``, opens
the chosen ONNX variant with onnxruntime (CUDA when available, else CPU) and
returns a :class:`Model` whose ``predict`` applies exactly the preprocessing
used in training (images: :mod:`hub.runtime.preprocess`; text:
:mod:`hub.runtime.text` from the exported tokenizer files). Nothing here
imports torch, transformers or the ``onnx`` package; ``tokenizers`` is needed
for text models and Pillow for image files.

Importing this package is cheap (training imports :mod:`hub.runtime.text`
through it), so onnxruntime is imported only when a model is loaded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config_check import check_config
from .inputs import InputError
from .session import RuntimeModelError, UnsafeModelError, check_external_data, contained, run

log = logging.getLogger(__name__)

CONFIG = "config.json"
CONFIG_FORMAT = 1

__all__ = ["InputError", "Model", "RuntimeModelError", "UnsafeModelError", "check_external_data", "load", "read_config"]


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of an export folder, checked for the fields :func:`load` needs."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise RuntimeModelError(f"{folder}: no {CONFIG}; this is not a hub export (make one with `hub export`)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuntimeModelError(f"{path}: unreadable ({exc}); re-export or re-download the model") from None
    except RecursionError:  # JSON nested thousands deep: no export looks like that
        raise RuntimeModelError(f"{path}: nested too deeply to be a hub config; re-export or re-download the model") from None
    if not isinstance(config, dict) or config.get("format") != CONFIG_FORMAT:
        raise RuntimeModelError(f"{path}: format {config.get('format') if isinstance(config, dict) else '?'!r} "
                                f"is not {CONFIG_FORMAT}; upgrade the hub runtime")
    for key in ("label_names", "preprocessing", "variants", "modality"):
        if key not in config:
            raise RuntimeModelError(f"{path}: missing {key!r}; the export is incomplete, re-export it")
    check_config(path, config)
    return config


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Model:
    """An exported classifier ready to predict: ``predict(inputs) -> [{label, score, probabilities}]``."""

    def __init__(self, folder: Path, config: dict[str, Any], variant: str, session: Any) -> None:
        self.folder = Path(folder)
        self.config = config
        self.variant = variant
        self.session = session
        self.label_names: tuple[str, ...] = tuple(config["label_names"])
        self.modality: str = config["modality"]
        self._text = None

    def encode(self, inputs: Any) -> dict[str, np.ndarray]:
        """Raw inputs (images or strings) -> the model's input arrays.

        Already-encoded inputs (a mapping ``{input_name: array}``, or for images a float32 NCHW
        batch) are checked against the graph and passed through (:mod:`hub.runtime.inputs`).
        Empty texts are refused with :class:`~hub.runtime.inputs.InputError`.
        """
        from .inputs import check_texts, encoded_feeds

        prep = self.config["preprocessing"]
        feeds = encoded_feeds(inputs, self.modality, prep, self.session.get_inputs())
        if feeds is not None:
            return feeds
        if self.modality == "text":
            if self._text is None:
                from .text import TextEncoder

                self._text = TextEncoder(self.folder, prep["max_length"], prep["input_names"],
                                         prep.get("padding_side", "right"))
            return self._text.encode(check_texts([inputs] if isinstance(inputs, str) else list(inputs)))
        from .preprocess import preprocess_images

        return {"pixel_values": preprocess_images(inputs, prep)}

    def logits(self, inputs: Any) -> np.ndarray:
        """Raw logits ``(batch, classes)`` for raw or already-encoded inputs (see :meth:`encode`)."""
        return np.asarray(run(self.session, self.encode(inputs))[0], dtype=np.float32)

    def predict(self, inputs: Any, batch_size: int = 32) -> list[dict[str, Any]]:
        """One ``{"label", "score", "probabilities"}`` per input, in input order.

        Images: a path or PIL image, one uint8 array ``(H, W)`` or ``(H, W, 3|4)``, a list of
        paths/PIL images/arrays, or one uint8 array batch ``(N, H, W)`` / ``(N, H, W, C)``; text: a
        string or a list of strings. Text batches are padded to their longest
        member only.
        """
        # One (H, W) grey or (H, W, 3|4) colour array is one image; (N, H, W) is a batch of grey ones
        # (a grey batch of width 3 or 4 is the one shape this reads wrongly: pass a list then).
        single = isinstance(inputs, (str, Path)) or hasattr(inputs, "getpixel") or (
            isinstance(inputs, np.ndarray) and (inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[-1] in (3, 4))))
        from .inputs import encoded_feeds

        feeds = encoded_feeds(inputs, self.modality, self.config["preprocessing"], self.session.get_inputs())
        if feeds is not None:  # already encoded: one batch, as given
            return self._results(_softmax(np.asarray(run(self.session, feeds)[0], dtype=np.float32)))
        items = [inputs] if single else list(inputs)
        results: list[dict[str, Any]] = []
        step = max(1, int(batch_size))
        for start in range(0, len(items), step):
            batch = items[start:start + step]
            if self.modality == "image" and all(isinstance(b, np.ndarray) for b in batch):
                batch = np.stack(batch) if len({b.shape for b in batch}) == 1 else batch
            results += self._results(_softmax(self.logits(batch)))
        return results

    def _results(self, probs: np.ndarray) -> list[dict[str, Any]]:
        out = []
        for row in probs:
            best = int(row.argmax())
            out.append({"label": self.label_names[best], "score": float(row[best]),
                        "probabilities": {name: float(p) for name, p in zip(self.label_names, row)}})
        return out

    def __repr__(self) -> str:
        return f"Model({self.folder}, variant={self.variant!r}, task={self.config.get('task')!r})"


def _locate(path_or_repo: str | Path) -> Path:
    """A local export folder, or a Hub snapshot for ``"namespace/name[@revision]"``."""
    candidate = Path(path_or_repo).expanduser()
    if candidate.exists():
        if candidate.is_file() and candidate.name == CONFIG:
            return candidate.parent
        return candidate
    text = str(path_or_repo)
    repo_id, _, revision = text.partition("@")
    if repo_id.count("/") != 1 or repo_id.startswith((".", "/")):
        raise RuntimeModelError(f"{text!r}: no such folder, and not a hub repo id ('namespace/name[@revision]')")
    try:
        from ..publish.pull import snapshot
    except ImportError as exc:
        raise RuntimeModelError(
            f"{text!r} is not a local folder, and pulling from a hub needs hub.publish.pull "
            f"({exc}); install the hub with its 'runtime' extra or download the folder first"
        ) from None
    return Path(snapshot(repo_id, revision or None))


def load(path_or_repo: str | Path, variant: str | None = None, providers: Sequence[str] | None = None,
         threads: int | None = None, runtime: str = "onnxruntime") -> Model:
    """Open an exported model (folder, or ``"namespace/name[@revision]"`` on a hub).

    ``variant`` picks one of the export's variants (``fp32``, ``int8-dynamic``,
    ...); by default the export's ``preferred_variant`` (fastest that passed the
    validation gate) or ``fp32``. ``runtime="openvino"`` or ``"litert"`` runs that format's
    files instead (exported with ``--format``; variants ``fp32``, ``bf16``, ``int8``), through the
    same ``predict`` and preprocessing; each needs its extra (``zoohub[openvino]``, ``zoohub[litert]``).
    """
    from .backends import RUNTIMES, open_session, require

    if runtime not in RUNTIMES:
        raise RuntimeModelError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    folder = _locate(path_or_repo)
    config = read_config(folder)
    if runtime == "onnxruntime":
        variants = config["variants"]
        name = variant or config.get("preferred_variant") or "fp32"
    else:
        require(runtime, f"{folder}: runtime {runtime!r}")
        formats = config.get("formats") or {}
        if runtime not in formats:
            raise RuntimeModelError(f"{folder}: this export has no {runtime} files (it has: "
                                    f"{', '.join(['onnxruntime', *sorted(formats)])}); export with --format onnx,{runtime}")
        variants = formats[runtime]["variants"]
        preferred = config.get("preferred_runtime") or {}
        name = variant or (preferred.get("variant") if preferred.get("runtime") == runtime else None) or "fp32"
    if name not in variants:
        which = "variant" if runtime == "onnxruntime" else f"{runtime} variant"
        raise RuntimeModelError(f"{folder}: no {which} {name!r}; this export has {', '.join(sorted(variants))}")
    entry = variants[name]
    for relative in [entry.get("file", ""), *entry.get("files", [])]:
        if not contained(folder, relative):
            raise UnsafeModelError(f"{folder}/{CONFIG}: variant {name!r} file {relative!r} lies outside the folder; "
                                   "refused")
    session = open_session(runtime, folder / entry["file"], input_names=config.get("input_names") or config[
        "preprocessing"].get("input_names", ["pixel_values"]), precision=entry.get("precision"), threads=threads, providers=providers)
    label = name if runtime == "onnxruntime" else f"{runtime}:{name}"
    log.info("loaded %s variant %s (%s)", folder, label, session.get_providers()[0])
    return Model(folder, config, label, session)
