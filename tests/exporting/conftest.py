"""Run directories for export tests, made once per session.

Until ``hub.training.api.train`` exists this builds a real run dir by hand: the
recipe's components from the installed plugins, a quick logistic-regression fit of
the head on frozen features (so predictions are far from chance and the
gate's metric comparison means something), ``run.json`` and
``weights.safetensors``. Switch :func:`make_run` to the trainer in one place.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hub.recipes import ComponentRef, EarlyStopping, ExportConfig, Recipe, TrainConfig


def recipe(backbone: str, dataset: str, task: str, input_size: dict, pretrained: bool = True,
           export: ExportConfig | None = None) -> Recipe:
    return Recipe(name=f"test-{backbone}", backbone=ComponentRef(backbone), head=ComponentRef("linear"),
                  task=ComponentRef(task), dataset=ComponentRef(dataset), pretrained=pretrained,
                  input_size=input_size, export=export or ExportConfig(),
                  # early_stopping set: run.json's reader (hub.training.rundir) cannot read it back as None yet
                  train=TrainConfig(early_stopping=EarlyStopping()))


def make_run(run_dir: Path, rec: Recipe, fit_samples: int = 256) -> Path:
    import safetensors.torch
    import torch

    from hub.model import build_model, components, input_contract
    from hub.plugins import get_hub
    from hub.specs import resolve
    from hub.training.data import InputEncoder
    from hub.training.rundir import RunInfo, write_run_info
    from hub.weights import resolve_weights

    registry = get_hub().registry
    comps = components(rec, registry)
    spec = comps.backbone_spec
    dataset = resolve(comps.dataset.spec.factory)(**dict(rec.dataset.options))
    model = build_model(rec, comps, dataset.num_classes).eval()
    contract = input_contract(spec, rec)
    folder = resolve_weights(spec)[0] if spec.modality == "text" else None
    encoder = InputEncoder(contract, folder)
    train = dataset.split("train")
    n = min(fit_samples, len(train))
    inputs = train.inputs[:n] if hasattr(train.inputs, "shape") else list(train.inputs[:n])
    with torch.no_grad():
        feats = torch.cat([model.features(*encoder(inputs[i:i + 32])) for i in range(0, n, 32)])
        raw_mean, raw_std = feats.mean(0), feats.std().clamp(min=1e-6)  # one scale: no blown-up dims
        targets = torch.as_tensor(np.asarray(train.labels[:n]))
    linear = model.head[-1]
    feats = (feats - raw_mean) / raw_std  # a well-conditioned fit, folded back into the head below
    w = torch.zeros(dataset.num_classes, feats.shape[1], requires_grad=True)
    b = torch.zeros(dataset.num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=100)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(feats @ w.T + b, targets) + 1e-2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        linear.weight.copy_(w / raw_std)
        linear.bias.copy_(b - (w / raw_std) @ raw_mean)
    run_dir.mkdir(parents=True, exist_ok=True)
    backbone = {"name": spec.name, "weights": {"kind": spec.weights[0].kind, "location": spec.weights[0].location}
                if rec.pretrained and spec.weights else {"kind": "none"}}
    write_run_info(run_dir, RunInfo(rec, dataset.label_names, contract, spec.modality, backbone=backbone))
    safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                                str(run_dir / "weights.safetensors"))
    (run_dir / "summary.json").write_text('{"note": "test fixture, head fitted by logistic regression"}\n')
    return run_dir


@pytest.fixture(scope="session")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = recipe("mobilenet-v3-small", "digits", "image-classification", {"image_size": 64}, pretrained=False)
    return make_run(tmp_path_factory.mktemp("runs") / "image", rec)


@pytest.fixture(scope="session")
def int8_recipe_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """image_run's model with a recipe that asks for an int8-dynamic variant (what `--quantize none` overrides)."""
    rec = recipe("mobilenet-v3-small", "digits", "image-classification", {"image_size": 64}, pretrained=False,
                 export=ExportConfig(quantize=["int8-dynamic"]))
    return make_run(tmp_path_factory.mktemp("runs") / "int8-recipe", rec)


@pytest.fixture(scope="session")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = recipe("minilm-l6", "rotten-tomatoes", "text-classification", {"max_length": 64})
    return make_run(tmp_path_factory.mktemp("runs") / "text", rec)


@pytest.fixture(scope="session")
def small_gate():
    from hub.exporting.pipeline import GateOptions
    return GateOptions(max_samples=64, batch_sizes=(1, 8))  # above the gate's floor of 50 samples


def _keep_any(*names: str) -> dict:
    """Tolerances that keep the named variants whatever their answers.

    For tests about what happens to a *kept* quantised variant (layout, runtime loading, the edge
    rule): whether int8 passes a real floor depends on the CPU's integer kernels (AMD EPYC and
    Intel Xeon with AMX disagree on a few of 64 samples), and that verdict is not theirs to assume.
    The floors themselves are tested on planted cases in test_gate_criteria.py.
    """
    from hub.exporting.gate import Tolerance

    return {name: Tolerance(None, 0.0, 100.0, 0.0) for name in names}


@pytest.fixture(scope="session")
def keep_any():
    """``keep_any(*variants)``: gate tolerances that keep those variants whatever they answer."""
    return _keep_any


def replace_export(rec: Recipe, **changes) -> Recipe:
    return dataclasses.replace(rec, export=dataclasses.replace(rec.export, **changes))


def _run_onnx_test_runner(model_dir: Path) -> None:
    """ONNX's own backend test runner, with onnxruntime as the backend, on the model folder."""
    import unittest
    import warnings

    import onnxruntime.backend as backend
    from onnx.backend.test.case.test_case import TestCase
    from onnx.backend.test.runner import Runner

    with warnings.catch_warnings():  # building ONNX's own node cases warns about their edge values
        warnings.simplefilter("ignore")
        runner = Runner(backend, __name__)
    case = TestCase(name="test_hub_export", model_name="hub_export", url=None, model_dir=str(model_dir),
                    model=None, data_sets=None, kind="real", rtol=1e-3, atol=1e-7)  # the runner's defaults
    runner._add_model_test(case, "Real")
    suite = unittest.TestSuite([runner.test_cases["OnnxBackendRealModelTest"]("test_hub_export_cpu")])
    result = unittest.TextTestRunner(verbosity=0).run(suite)
    assert result.testsRun == 1 and result.wasSuccessful(), result.failures + result.errors


@pytest.fixture(scope="session")
def onnx_test_runner():
    """``run(model_dir)``: ONNX's backend test runner over ``model.onnx`` + ``test_data_set_0`` there."""
    return _run_onnx_test_runner


@pytest.fixture(scope="session")
def image_export(image_run: Path, small_gate, tmp_path_factory) -> Path:
    """One export of ``image_run`` (int8-dynamic kept whatever it answers, ORT format, e2e graph, and the
    OpenVINO and LiteRT formats), shared read-only by the export tests: a test that changes files copies
    it first. The formats ride on this export because making the ONNX graph and the gate's PyTorch
    reference again would cost the suite more than the formats themselves (~20 s)."""
    from hub.exporting.pipeline import export_run

    out = tmp_path_factory.mktemp("exports") / "digits"
    # the tests need the int8 variant kept, on any CPU: its verdict is not theirs to assume
    options = dataclasses.replace(small_gate, tolerances=_keep_any("int8-dynamic"))
    export_run(image_run, out, quantize=["int8-dynamic"], target="ort-mobile", gate_options=options,
               formats="onnx,openvino,litert")
    return out
