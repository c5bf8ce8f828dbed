"""Derived ONNX variants: graph-optimised, int8 (dynamic, static QDQ), fp16, and ORT format.

Every variant is made from the fp32 export with onnxruntime's own tools, then
goes through the same validation gate; one that breaches its budget is
reported and deleted, never shipped. Notes from measurements on the build
machine (BENCHMARKS.md, "Speed"): int8 only pays when onnxruntime can run it
as integer kernels, so graphs are pre-processed (CNNs) or fused (BERT: QAttention)
before they are quantised; quantising a fused model needs ``DefaultTensorType``
or shape inference fails.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .onnx_export import DATA_SUFFIX, files_of

log = logging.getLogger(__name__)

FILES = {
    "fp32": "model.onnx",
    "optimized": "model_optimized.onnx",
    "int8-dynamic": "model_int8_dynamic.onnx",
    "int8-static": "model_int8_static.onnx",
    "fp16": "model_fp16.onnx",
}
QUANTIZE = ("int8-dynamic", "int8-static", "fp16")


class _Reader:
    """A ``CalibrationDataReader`` over encoded training batches (real data, not noise)."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]], names: Iterable[str]) -> None:
        self._items = [{n: f[n] for n in names} for f in feeds]
        self._iter: Iterator[dict[str, np.ndarray]] = iter(self._items)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._items)


def _graph_inputs(path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _uses_external(path: Path) -> bool:
    return len(files_of(path)) > 1


def make_variant(name: str, src: Path, dst: Path, *, family: str = "", calibration: list[dict] | None = None,
                 num_heads: int = 0, hidden_size: int = 0, calibration_method: str = "percentile") -> Path:
    """Write variant ``name`` of the fp32 model ``src`` to ``dst``; returns ``dst``.

    ``calibration_method`` (int8-static): ``percentile`` (99.999, the default), ``minmax`` or
    ``entropy``. Measured on the gate's test split (bench/int8_calibration.py): on ImageNet
    EfficientNet-Lite0 min-max and entropy changed 14 of 269 answers (agreement 0.948, under
    the 0.95 floor), percentile 12 (0.955, +1.1 pt accuracy), at the same speed.
    """
    if name == "int8-static" and calibration_method not in CALIBRATION_METHODS:  # before any work
        raise ExportError(f"unknown calibration method {calibration_method!r}; "
                          f"choose from {', '.join(CALIBRATION_METHODS)}")
    external = _uses_external(src)
    root = logging.getLogger()  # onnxruntime.quantization logs per tensor on the root logger
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        if name == "optimized":
            _optimize(src, dst, family, external, num_heads, hidden_size)
        elif name == "int8-dynamic":
            with _prepared(src, dst, family, external, num_heads, hidden_size) as prepared:
                _dynamic(prepared, dst, external, family)
        elif name == "int8-static":
            with _prepared(src, dst, "", external, 0, 0) as prepared:
                _static(prepared, dst, calibration, external, calibration_method)
        elif name == "fp16":
            _fp16(src, dst, external)
        else:
            raise ExportError(f"unknown variant {name!r}; choose from {', '.join(FILES)}")
    except ExportError:
        raise
    except OSError:
        raise
    except Exception as exc:
        raise ExportError(f"making variant {name} from {src.name} failed: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    finally:
        root.setLevel(level)
    return dst


@contextlib.contextmanager
def _prepared(src: Path, dst: Path, family: str, external: bool, num_heads: int, hidden_size: int) -> Iterator[Path]:
    """The graph to quantise: BERT fused by the transformer optimizer, others through ``quant_pre_process``.

    Why: quantising the raw export left graphs onnxruntime could not run as integer
    kernels. A Conv whose bias is not an initializer (the exporter shares equal bias
    tensors through Identity nodes) keeps a float bias, its QDQ group is not fused
    into QLinearConv, and ResNet-18 int8-static ran *slower* than fp32; after ORT's
    recommended pre-processing (shape inference + basic optimisation) it runs ~3x
    faster than fp32. For BERT the fused Attention op becomes QAttention.
    """
    src = Path(src).resolve()
    with tempfile.TemporaryDirectory(prefix=".quant-", dir=dst.parent) as tmp:
        prepared = Path(tmp).resolve() / src.name
        if family == "bert":
            _optimize(src, prepared, family, external, num_heads, hidden_size)
        else:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            where = {"save_as_external_data": external, "all_tensors_to_one_file": True,
                     "external_data_location": prepared.name + DATA_SUFFIX}
            # onnxruntime saves a debug copy of the model (with ~90 MB of data for MiniLM) into the
            # current directory when symbolic inference fails: keep that inside the temp folder
            with contextlib.chdir(tmp):
                try:
                    quant_pre_process(str(src), str(prepared), **where)
                except Exception as exc:  # dynamic text axes: onnx shape inference alone is enough there
                    log.info("symbolic shape inference of %s failed (%s); pre-processing without it", src.name, exc)
                    quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True, **where)
        yield prepared


#: What int8-dynamic quantises in a fused BERT graph. Not EmbedLayerNormalization: int8 embedding
#: tables changed 5 of 487 MiniLM test answers (1.03 pt, over the 1 pt budget) for no speed; with
#: float embeddings the drop is -1.03 pt (ONNX better), agreement 0.969 (bench/minilm_int8.py).
BERT_INT8_OPS = ["MatMul", "Attention"]


def _dynamic(src: Path, dst: Path, external: bool, family: str = "") -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel int8 weights: on MiniLM (487 reviews) top-1 agreement 0.965 vs 0.889 per-tensor
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=BERT_INT8_OPS if family == "bert" else None,
                     use_external_data_format=external, extra_options={"DefaultTensorType": 1})


CALIBRATION_METHODS = ("percentile", "minmax", "entropy")


def _static(src: Path, dst: Path, calibration: list[dict] | None, external: bool, method: str = "percentile") -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ExportError("int8-static needs calibration batches from the training split; none were given")
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):  # histogram calibrators print() progress: not onto `--json` output
            quantize_static(
                str(src), str(dst), _Reader(calibration, _graph_inputs(src)), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=methods[method], use_external_data_format=external,
                extra_options={"DefaultTensorType": 1},
            )
    except ValueError as exc:
        # the histogram calibrators stack activations across batches: text batches of different
        # lengths cannot be stacked (MiniLM), so those graphs are calibrated by min-max
        if method == "minmax":
            raise
        log.info("%s calibration failed (%s); calibrating by min-max", method, str(exc).splitlines()[0][:120])
        _static(src, dst, calibration, external, "minmax")
        return
    log.debug("calibration (%s): %s", method, chatter.getvalue().strip())


def _fp16(src: Path, dst: Path, external: bool) -> None:
    """float16 weights and compute, float32 inputs/outputs (so deployment code does not change)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    from .onnx_export import save_model

    model = OnnxModel(onnx.load(str(src), load_external_data=True))
    model.convert_float_to_float16(keep_io_types=True, disable_shape_infer=external)
    model.topological_sort()  # the converter appends input casts after their consumers
    save_model(model.model, dst, external)


def _optimize(src: Path, dst: Path, family: str, external: bool, num_heads: int, hidden_size: int) -> None:
    """BERT-family: the transformer optimizer's fusions; others: onnxruntime's offline optimisation.

    ``ORT_ENABLE_EXTENDED`` (not ALL) keeps the saved graph portable: layout
    transformations of level ALL are specific to the machine that made them.
    """
    if family == "bert":
        from onnxruntime.transformers.optimizer import optimize_model

        from .onnx_export import save_model

        optimized = optimize_model(str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                                   opt_level=0)
        model = optimized.model
        if any(n.domain == "com.microsoft" for n in model.graph.node) and not any(
                o.domain == "com.microsoft" for o in model.opset_import):
            model.opset_import.add(domain="com.microsoft", version=1)  # the fused ops' domain must be declared
        save_model(model, dst, external)
        return
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(dst)
    if external:
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                         dst.name + DATA_SUFFIX)
    ort.InferenceSession(str(src), sess_options=options, providers=["CPUExecutionProvider"])


def remove(path: Path) -> None:
    for f in files_of(path):
        f.unlink(missing_ok=True)


def to_ort_format(onnx_path: Path, out_dir: Path) -> dict[str, Any]:
    """Write ``<name>.ort`` and ``required_operators.config`` with onnxruntime's own converter."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    if _uses_external(onnx_path):
        raise ExportError(f"{onnx_path.name}: the ORT format cannot hold external data; "
                          "models over ~1 GB cannot target ort-mobile")
    with tempfile.TemporaryDirectory(prefix=".ort-", dir=out_dir) as tmp:
        work = Path(tmp) / "in"
        work.mkdir()
        shutil.copy2(onnx_path, work / onnx_path.name)
        converted = Path(tmp) / "out"
        try:
            convert_onnx_models_to_ort(work / onnx_path.name, output_dir=converted,
                                       optimization_styles=[OptimizationStyle.Fixed])
        except Exception as exc:
            raise ExportError(f"converting {onnx_path.name} to the ORT format failed: {exc}") from exc
        ort_files = sorted(converted.rglob("*.ort"))
        configs = sorted(converted.rglob("*.config"))
        if not ort_files:
            raise ExportError(f"onnxruntime's converter wrote no .ort file for {onnx_path.name}")
        target = out_dir / (onnx_path.stem + ".ort")
        shutil.move(str(ort_files[0]), target)
        config = out_dir / "required_operators.config"
        if configs:  # its header names the converter's temporary path: not something to publish
            lines = configs[0].read_text(encoding="utf-8").splitlines()
            kept = [f"# - {target.name}" if line.startswith("# - ") else line for line in lines]
            config.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return {"file": target.name, "required_operators": config.name if config.exists() else None}
