"""The end-to-end text graph: one raw string in, probabilities out, the tokenizer inside.

Why: a deployer on a phone or in C#, Java or C++ has onnxruntime (and its extensions package)
but no ``tokenizers``; porting a WordPiece tokenizer by hand is a source of silent
mismatches. onnxruntime-extensions' ``BertTokenizer`` op expresses BERT-family tokenizers
(MiniLM, BERT, DistilBERT: WordPiece with lower-casing), so for those the export writes
``onnx/model_e2e.onnx``: ``text`` (string, shape ``(1,)``) -> tokenizer op -> the plain graph ->
``probabilities`` / ``label_id``. Its contract is one text per call: the op concatenates a batch
into one sequence, so the input shape is fixed at 1 and onnxruntime refuses more.

Where the op cannot express the tokenizer (BPE tokenizers such as SmolLM2's, which
``gen_processing_models`` does not convert), the export records why and has none. Runtimes
without the extensions (onnxruntime-web, onnxruntime-node) cannot load this graph at all: their
text path is transformers.js, which tokenizes from ``tokenizer.json`` (``transformersjs.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import ExportError
from .e2e import OUTPUTS, _node

INPUT = "text"
CONTRIB = "ai.onnx.contrib"
_PREFIX = "e2e_tok_"


def contract_entry(num_labels: int) -> dict[str, Any]:
    """config.json's description of the text e2e file."""
    return {"file": "onnx/model_e2e.onnx",
            "input": {"name": INPUT, "dtype": "string", "shape": [1], "texts_per_call": 1},
            "outputs": {"probabilities": {"dtype": "float32", "shape": [1, num_labels]},
                        "label_id": {"dtype": "int64", "shape": [1]}},
            "requires": "onnxruntime-extensions (register its custom-op library with the session)"}


def tokenizer_graph(folder: Path, max_length: int) -> Any:
    """The extensions' tokenizer graph for the tokenizer in ``folder``; ``ExportError`` if it has none."""
    try:
        from onnxruntime_extensions import gen_processing_models
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ExportError(f"the text e2e graph needs onnxruntime-extensions and transformers ({exc}); "
                          "pip install 'zoohub[train]'") from exc
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if type(tokenizer).__name__ not in ("BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer",
                                        "DistilBertTokenizerFast"):
        raise ExportError(f"onnxruntime-extensions' BertTokenizer op cannot express a {type(tokenizer).__name__}")
    try:
        pre, _ = gen_processing_models(tokenizer, pre_kwargs={"max_length": int(max_length)})
    except Exception as exc:  # the converter's own errors: unsupported tokenizer options
        raise ExportError(f"onnxruntime-extensions cannot convert this tokenizer: {exc}") from exc
    _normalise_as_tokenizer_json(pre, Path(folder))
    return pre


def _normalise_as_tokenizer_json(pre: Any, folder: Path) -> None:
    """Set the op's lower-casing and accent stripping from the exported ``tokenizer.json``'s
    ``BertNormalizer``, which is what ``hub.runtime`` tokenizes with.

    Why: BERT's normaliser strips accents whenever it lower-cases and ``strip_accents`` is unset; the
    converter writes ``strip_accents=0`` then, and "Café" became other ids than ``tokenizers`` gives.
    """
    import json

    from onnx import helper

    try:
        normalizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")).get("normalizer") or {}
    except (OSError, ValueError):
        return  # no tokenizer.json: the converter's own reading of the tokenizer stands
    parts = (normalizer.get("normalizers") or []) if normalizer.get("type") == "Sequence" else [normalizer]
    bert = next((n for n in parts if isinstance(n, dict) and n.get("type") == "BertNormalizer"), None)
    if bert is None:
        return
    lower = bool(bert.get("lowercase", False))
    strip = lower if bert.get("strip_accents") is None else bool(bert["strip_accents"])
    for node in pre.graph.node:
        if node.op_type == "BertTokenizer":
            kept = [a for a in node.attribute if a.name not in ("strip_accents", "do_lower_case")]
            del node.attribute[:]
            node.attribute.extend([*kept, helper.make_attribute("do_lower_case", int(lower)),
                                   helper.make_attribute("strip_accents", int(strip))])


def build_text_e2e(plain: Path, dest: Path, tokenizer_folder: Path, max_length: int, *,
                   logits: str = "logits", external: bool = False) -> None:
    """Write ``dest``: tokenizer op -> (batch axis added) -> the plain graph -> softmax / argmax."""
    import onnx
    from onnx import TensorProto, helper

    pre = tokenizer_graph(tokenizer_folder, max_length)
    model = onnx.load(str(plain))
    graph = model.graph
    wanted = [i.name for i in graph.input]
    produced = [o.name for o in pre.graph.output]
    missing = [n for n in wanted if n not in produced]
    if missing or logits not in [o.name for o in graph.output]:
        raise ExportError(f"the tokenizer op gives {produced}, the graph needs {wanted} and an output {logits!r}")
    nodes = []
    for node in pre.graph.node:
        node.output[:] = [_PREFIX + o if o else o for o in node.output]
        node.input[:] = [INPUT if i == pre.graph.input[0].name else i for i in node.input]
        nodes.append(node)
    axis = helper.make_tensor("e2e_tok_axis0", TensorProto.INT64, [1], [0])
    for name in wanted:  # (sequence,) -> (1, sequence), the plain graph's batch axis
        nodes.append(_node("Unsqueeze", [_PREFIX + name, "e2e_tok_axis0"], [name]))
    nodes += list(graph.node)
    nodes += [_node("Softmax", [logits], [OUTPUTS[0]], axis=-1),
              _node("ArgMax", [logits], [OUTPUTS[1]], axis=-1, keepdims=0)]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend([*pre.graph.initializer, axis])
    num_labels = graph.output[0].type.tensor_type.shape.dim[-1].dim_value or "labels"
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.STRING, [1]))
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(OUTPUTS[0], TensorProto.FLOAT, [1, num_labels]),
                         helper.make_tensor_value_info(OUTPUTS[1], TensorProto.INT64, [1])])
    if not any(o.domain == CONTRIB for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB, 1))
    from .onnx_export import save_model

    save_model(model, dest, external)


def session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime session with the extensions' custom ops registered (what a deployer does too)."""
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path

    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    if threads:
        options.intra_op_num_threads = int(threads)
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_texts(sess: Any, texts: Sequence[str]) -> tuple[Any, Any]:
    """(probabilities, label ids) for ``texts``, one call per text as the contract says."""
    import numpy as np

    outs = [sess.run(None, {INPUT: np.array([str(t)], dtype=object)}) for t in texts]
    return np.concatenate([o[0] for o in outs]).astype(np.float64), np.concatenate([o[1] for o in outs])
