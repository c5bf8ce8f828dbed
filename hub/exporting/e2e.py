"""The end-to-end image graph: decoded pixels in, probabilities out, preprocessing inside.

Why: a deployer in Kotlin, Swift, C#, C++ or JavaScript has an image decoder but not our
Python preprocessing, and porting it by hand is the classic source of "ONNX gives other answers
than PyTorch". So the export also ships ``onnx/model_e2e.onnx``, which takes what every platform
can produce — a decoded image, uint8, RGB, channels-last ``(batch, height, width, 3)`` of any size
— and does inside the graph what :mod:`hub.runtime.preprocess` does, step for step:

1. ``channels == 1``: RGB -> luma with Pillow's own integer formula (``L24 >> 16``);
2. resize with onnxruntime's ``Resize`` on **uint8** with ``antialias=1``, ``exclude_outside=1``
   and Pillow's bicubic ``a = -0.5``: onnxruntime's antialiased uint8 path is Pillow's separable
   fixed-point filter (horizontal pass first, rounded to uint8 between passes), so the pixels are
   Pillow's, but for one step on a few pixels in ten thousand (float32 vs double coefficients;
   tests/exporting/test_e2e.py measures it); the cover size and centre-crop offsets use the
   runtime's integer rules (``floor`` by integer division, banker's rounding of the offset).
   Nearest: Pillow's ``floor((x + 0.5) * in / out)``, equal where the scale is exact in float32;
3. ``pixel * scale + offset`` per channel (the runtime's fused constants), colour order; the
   planes are NCHW from the resize on (onnxruntime resizes planes faster than channels-last);
4. the plain graph, then ``Softmax`` -> ``probabilities`` and ``ArgMax`` -> ``label_id``.

The plain graph is spliced in unchanged (its nodes and weights are the fp32 file's), so the e2e
file is the fp32 model plus a few dozen small nodes; it is judged by the gate on the test split
*as image files* (:mod:`hub.exporting.e2e_gate`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError

FILE = "model_e2e.onnx"
INPUT = "image"
OUTPUTS = ("probabilities", "label_id")
MIN_OPSET = 18  # Resize's antialias attribute
_PREFIX = "e2e_"


def contract_entry(num_labels: int) -> dict[str, Any]:
    """config.json's description of the e2e file: what a deployer feeds and reads."""
    return {"file": f"onnx/{FILE}",
            "input": {"name": INPUT, "dtype": "uint8", "shape": ["batch", "height", "width", 3],
                      "layout": "NHWC", "color_order": "RGB"},
            "outputs": {"probabilities": {"dtype": "float32", "shape": ["batch", num_labels]},
                        "label_id": {"dtype": "int64", "shape": ["batch"]}}}


def supported(modality: str, task_loss: str) -> str | None:
    """Why this export gets no e2e graph, or ``None`` when it may (text: see ``e2e_text``)."""
    if modality not in ("image", "text"):
        return f"no e2e graph for {modality!r} inputs"
    if task_loss != "cross-entropy":
        return f"the task's loss is {task_loss!r}: softmax probabilities would not be its answer"
    return None


class _Graph:
    """A tiny builder: constants and nodes with unique names, all prefixed to stay clear of the model's."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{_PREFIX}{hint}_{self._n}"

    def const(self, value: Any, dtype: Any, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _dim(g: _Graph, shape: str, axis: int) -> str:
    """One dimension of a shape tensor, as an int64 of shape [1]."""
    return g.op("Slice", [shape, g.const([axis], np.int64), g.const([axis + 1], np.int64)], f"dim{axis}")


def _cover_sizes(g: _Graph, src_h: str, src_w: str, size: tuple[int, int], crop_pct: float) -> tuple[str, str]:
    """The resized height and width, as ``preprocess._resize`` computes them (all integer arithmetic)."""
    import math

    height, width = size
    if crop_pct >= 1.0:
        return g.const([height], np.int64), g.const([width], np.int64)
    cover_h, cover_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
    ch, cw = g.const([cover_h], np.int64), g.const([cover_w], np.int64)
    height_binds = g.op("GreaterOrEqual", [g.op("Mul", [ch, src_w]), g.op("Mul", [cw, src_h])], "height_binds")
    scaled_w = g.op("Max", [g.const([width], np.int64), g.op("Div", [g.op("Mul", [src_w, ch]), src_h])])
    scaled_h = g.op("Max", [g.const([height], np.int64), g.op("Div", [g.op("Mul", [src_h, cw]), src_w])])
    new_h = g.op("Where", [height_binds, ch, scaled_h], "new_h")
    new_w = g.op("Where", [height_binds, scaled_w, cw], "new_w")
    return new_h, new_w


def _crop_start(g: _Graph, new: str, target: int) -> str:
    """``int(round((new - target) / 2))`` with Python's round-half-to-even (ONNX Round is the same)."""
    half = g.op("Div", [g.op("Cast", [g.op("Sub", [new, g.const([target], np.int64)])], to=1),
                        g.const([2.0], np.float32)])
    return g.op("Cast", [g.op("Round", [half])], "crop_start", to=7)


def _resize(g: _Graph, pixels: str, contract: Any, channels: int) -> str:
    """uint8 NCHW -> uint8 NCHW at ``contract.size`` (resized, centre-cropped).

    NCHW, not the input's NHWC: onnxruntime's antialiased Resize runs ~1.6x faster on planes
    (1024x768 -> 146x194 bicubic, 1 thread: 4.6 ms with the transpose vs 7.2 ms channels-last).
    """
    shape = g.op("Shape", [pixels], "shape")
    batch, src_h, src_w = _dim(g, shape, 0), _dim(g, shape, 2), _dim(g, shape, 3)
    new_h, new_w = _cover_sizes(g, src_h, src_w, contract.size, contract.crop_pct)
    sizes = g.op("Concat", [batch, g.const([channels], np.int64), new_h, new_w], "sizes", axis=0)
    attrs: dict[str, Any] = {"coordinate_transformation_mode": "half_pixel"}
    if contract.interpolation == "nearest":  # Pillow: floor((x + 0.5) * scale), no antialias
        attrs.update(mode="nearest", nearest_mode="round_prefer_ceil")
    else:
        # Pillow's filter: a = -0.5, the support widened when shrinking, taps outside the image dropped
        # and the rest renormalised (exclude_outside; without it edge pixels repeat and borders differ)
        attrs.update(mode="linear" if contract.interpolation == "bilinear" else "cubic", antialias=1,
                     cubic_coeff_a=-0.5, exclude_outside=1)
    resized = g.op("Resize", [pixels, "", "", sizes], "resized", **attrs)
    if contract.crop_pct >= 1.0:
        return resized
    height, width = contract.size
    top, left = _crop_start(g, new_h, height), _crop_start(g, new_w, width)
    starts = g.op("Concat", [top, left], axis=0)
    ends = g.op("Add", [starts, g.const([height, width], np.int64)])
    return g.op("Slice", [resized, starts, ends, g.const([2, 3], np.int64)], "cropped")


def _luma(g: _Graph, rgb: str) -> str:
    """Pillow's ``convert("L")``: ``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`` on integers."""
    wide = g.op("Cast", [rgb], to=6)  # int32
    weighted = g.op("Mul", [wide, g.const([19595, 38470, 7471], np.int32)])
    total = g.op("ReduceSum", [weighted, g.const([3], np.int64)], keepdims=1)
    shifted = g.op("Div", [g.op("Add", [total, g.const([0x8000], np.int32)]), g.const([1 << 16], np.int32)])
    return g.op("Cast", [shifted], "luma", to=2)  # uint8


def preprocessing_nodes(g: _Graph, contract: Any, output: str) -> None:
    """The nodes from the uint8 ``image`` input to the float32 NCHW tensor named ``output``."""
    from ..runtime.preprocess import check_contract

    spec = check_contract(contract)
    pixels = _luma(g, INPUT) if spec.channels == 1 else INPUT
    planes = g.op("Transpose", [pixels], "planes", perm=[0, 3, 1, 2])
    resized = _resize(g, planes, spec, spec.channels)
    if spec.channels == 3 and spec.color_order == "BGR":
        resized = g.op("Gather", [resized, g.const([2, 1, 0], np.int64)], "bgr", axis=1)
    scale, offset = (a.reshape(1, -1, 1, 1) for a in spec.affine())
    floats = g.op("Cast", [resized], to=1)
    g.nodes.append(_node("Add", [g.op("Mul", [floats, g.const(scale, np.float32, "scale")]),
                                 g.const(offset, np.float32, "offset")], [output]))


def _node(op_type: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
    from onnx import helper

    return helper.make_node(op_type, inputs, outputs, name=f"{_PREFIX}{outputs[0]}", **attrs)


def build_e2e(plain: Path, dest: Path, contract: Any, *, input_name: str = "pixel_values",
              logits: str = "logits", external: bool = False) -> None:
    """Write ``dest``: the plain fp32 graph ``plain`` with preprocessing before it and softmax after."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(plain))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise ExportError(f"the e2e graph needs opset >= {MIN_OPSET} (Resize with antialias); this export is "
                          f"opset {opset}: export with --opset {MIN_OPSET} or higher")
    graph = model.graph
    if [i.name for i in graph.input] != [input_name] or logits not in [o.name for o in graph.output]:
        raise ExportError(f"{plain}: the e2e graph needs one input {input_name!r} and an output {logits!r}; "
                          f"got inputs {[i.name for i in graph.input]}, outputs {[o.name for o in graph.output]}")
    g = _Graph()
    preprocessing_nodes(g, contract, input_name)
    probabilities = _node("Softmax", [logits], [OUTPUTS[0]], axis=-1)
    label_id = _node("ArgMax", [logits], [OUTPUTS[1]], axis=-1, keepdims=0)
    nodes = [*g.nodes, *graph.node, probabilities, label_id]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(g.inits)
    num_labels = graph.output[0].type.tensor_type.shape.dim[-1]
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["batch", "height", "width", 3]))
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info(OUTPUTS[0], TensorProto.FLOAT, ["batch", num_labels.dim_value or "labels"]),
        helper.make_tensor_value_info(OUTPUTS[1], TensorProto.INT64, ["batch"])])
    from .onnx_export import save_model

    save_model(model, dest, external)  # into the export's temporary folder, renamed whole when done
    onnx.checker.check_model(str(dest))


def preprocessing_model(contract: Any, opset: int = MIN_OPSET) -> Any:
    """The preprocessing alone (``image`` -> ``pixel_values``): to compare with the runtime pixel for pixel."""
    from onnx import TensorProto, helper

    g = _Graph()
    preprocessing_nodes(g, contract, "pixel_values")
    graph = helper.make_graph(g.nodes, "e2e_preprocessing",
                              [helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["batch", "height", "width", 3])],
                              [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, None)], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
