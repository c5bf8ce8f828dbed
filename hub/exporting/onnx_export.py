"""Trace a :class:`hub.model.HubModel` to ONNX with the task's input and output names.

The legacy TorchScript exporter (``dynamo=False``) is used on purpose: it
exports every backbone in the zoo (MiniLM in ~2 s, SmolLM2 in ~11 s on the
build machine) and supports opsets 7-20, while the dynamo exporter is slower
and pins opset 18. The raw file is re-saved through ``onnx`` so metadata can
be attached and, for big models, the weights can go to one external-data
file (``model.onnx.data``) next to the graph: protobuf cannot hold more than
2 GB, and a single data file keeps the folder easy to publish.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ExportError

log = logging.getLogger(__name__)

#: Above this many bytes of initializers the weights go to external data.
EXTERNAL_DATA_THRESHOLD = 1 << 30
DATA_SUFFIX = ".data"
#: ``ModelProto.model_version``: the version of the deployer contract the graph carries (its ``hub.*``
#: metadata and config.json's ``format``), so a lone .onnx says which contract to read it with.
MODEL_VERSION = 1


def stamp(proto: Any) -> None:
    """Producer fields name the hub that wrote the file (not torch or onnxruntime's quantiser)."""
    from ..version import __version__

    proto.producer_name = "hub"
    proto.producer_version = __version__
    proto.model_version = MODEL_VERSION


def opset_range() -> tuple[int, int]:
    """Opsets the legacy exporter of the installed torch can write."""
    from torch.onnx import _constants

    high = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", getattr(_constants, "ONNX_MAX_OPSET", 20))
    return int(_constants.ONNX_MIN_OPSET), int(high)


def example_inputs(input_names: Sequence[str], contract: Mapping[str, Any], batch: int = 2, seq: int = 8):
    """Dummy tensors of the right dtype and shape to trace with (axes are made dynamic)."""
    import torch

    if "pixel_values" in input_names:
        height, width = contract["size"]
        return (torch.rand(batch, int(contract.get("channels", 3)), int(height), int(width)),)
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "input_ids": torch.randint(5, 1000, (batch, seq), generator=generator),
        "attention_mask": torch.ones(batch, seq, dtype=torch.long),
        "token_type_ids": torch.zeros(batch, seq, dtype=torch.long),
    }
    tensors["attention_mask"][-1, seq // 2:] = 0  # a padded row, so masking is traced
    return tuple(tensors[name] for name in input_names)


def dynamic_axes(input_names: Sequence[str], output_names: Sequence[str]) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for name in input_names:
        axes[name] = {0: "batch"} if name == "pixel_values" else {0: "batch", 1: "sequence"}
    for name in output_names:
        axes[name] = {0: "batch"}
    return axes


@contextlib.contextmanager
def traceable_attention(model: Any) -> Any:
    """Trace transformers attention as its plain MatMul-Softmax-MatMul form, then switch back.

    Why: the SDPA path traces into masks built from IsNaN/Where that onnxruntime's
    transformer optimizer does not recognise, so MiniLM's attention stayed unfused and
    int8-dynamic left it in float. Traced "eager", the optimizer fuses every layer into
    one Attention op, which quantize_dynamic turns into QAttention: MiniLM's int8 went
    from ~4x to ~5x eager (BENCHMARKS.md, "Speed"). It is the same function, and the
    gate compares the graph with the PyTorch module as trained.
    """
    switched = []
    for module in model.modules():
        config = getattr(module, "config", None)
        current = getattr(config, "_attn_implementation", None)
        if current not in (None, "eager") and hasattr(module, "set_attn_implementation"):
            try:
                module.set_attn_implementation("eager")
            except (ValueError, TypeError, AttributeError) as exc:  # a model without an eager path keeps its own
                log.info("attention of %s stays %s for tracing: %s", type(module).__name__, current, exc)
                continue
            switched.append((module, current))
    try:
        yield model
    finally:
        for module, previous in switched:
            module.set_attn_implementation(previous)


def _explain(exc: Exception, opset: int, where: str) -> ExportError:
    low, high = opset_range()
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    op = re.search(r"operator '?([\w:.]+)'?", text)
    if op and ("opset" in text.lower() or "not supported" in text.lower()):
        return ExportError(
            f"{where}: operator {op.group(1)} cannot be exported at opset {opset} ({first}); "
            f"choose an opset in {low}-{high} that has it (the default, 18, works for every zoo backbone)"
        )
    return ExportError(f"{where}: torch.onnx.export failed at opset {opset}: {type(exc).__name__}: {first}")


def export_onnx(model: Any, input_names: Sequence[str], output_names: Sequence[str], contract: Mapping[str, Any],
                path: Path, opset: int, metadata: Mapping[str, str] | None = None,
                external_data_threshold: int = EXTERNAL_DATA_THRESHOLD, where: str = "model") -> dict[str, Any]:
    """Export ``model`` (eval mode) to ``path``; returns facts for config.json.

    ``where`` names the model in errors (backbone + head), since the exporter's
    own messages name only the aten operator.
    """
    import onnx
    import torch

    low, high = opset_range()
    if not low <= opset <= high:
        raise ExportError(f"opset {opset} is out of range: torch {torch.__version__}'s exporter writes opsets "
                          f"{low}-{high} (default 18); pass --opset within that range")
    model = model.eval()
    inputs = example_inputs(input_names, contract)
    path = Path(path)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".raw-onnx-", dir=path.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        try:
            with torch.no_grad(), warnings.catch_warnings(), traceable_attention(model):
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model, inputs, str(raw), dynamo=False, opset_version=opset,
                    input_names=list(input_names), output_names=list(output_names),
                    dynamic_axes=dynamic_axes(input_names, output_names), do_constant_folding=True,
                )
        except OSError:
            raise
        except Exception as exc:
            raise _explain(exc, opset, where) from exc
        proto = onnx.load(str(raw), load_external_data=True)
    stamp(proto)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    weight_bytes = sum(t.ByteSize() for t in proto.graph.initializer)
    external = weight_bytes > external_data_threshold
    save_model(proto, path, external)
    graph_inputs = [i.name for i in proto.graph.input]
    log.info("exported %s to %s in %.1f s (opset %d, %.1f MB, external data: %s)", where, path,
             time.perf_counter() - started, opset, weight_bytes / 1e6, external)
    return {"opset": opset, "external_data": external, "graph_inputs": graph_inputs,
            "export_seconds": round(time.perf_counter() - started, 3)}


def save_model(proto: Any, path: Path, external: bool) -> None:
    """Save with all weights in ``<name>.data`` beside it (relative location) or inline."""
    import onnx

    path = Path(path)
    if external:
        location = path.name + DATA_SUFFIX
        (path.parent / location).unlink(missing_ok=True)  # save_model appends to an existing file
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=location, size_threshold=1024)
    else:
        onnx.save_model(proto, str(path))


def files_of(path: Path) -> list[Path]:
    """The model file and its external data file, if any."""
    path = Path(path)
    data = path.with_name(path.name + DATA_SUFFIX)
    return [path, data] if data.is_file() else [path]


def set_metadata(path: Path, metadata: Mapping[str, str]) -> None:
    """Replace the metadata_props (and producer fields) of a saved model (external data stays where it is)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    stamp(proto)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, str(path))
