"""The conformance suite: does a plugin's component survive training, export and deployment?

Each ``check_*`` function runs the checks for one registered component and returns
:class:`Check` results — never raises for the component's own mistakes — so the
same code serves ``hub plugins check NAME`` (one line per check) and a plugin's own
pytest suite (``assert not failures(check_backbone(spec))``). Every check names
the component and says what to fix. The heavy part (ONNX export + onnxruntime +
an int8 variant) is optional: ``export=False`` skips it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Check:
    component: str  # e.g. "backbone acme:tiny"
    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""

    def line(self) -> str:
        return f"{self.status.upper():4}  {self.component}: {self.name}" + (f" — {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def failures(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


class _Runner:
    """Collects checks; a check function that raises is a failure with its message, not a crash."""

    def __init__(self, component: str) -> None:
        self.component, self.results = component, []

    def run(self, name: str, fn: Callable[[], str | None], *, needs: bool = True, skip: str = "") -> Any:
        if not needs:
            self.results.append(Check(self.component, name, "skip", skip))
            return None
        try:
            detail = fn()
        except _Skip as exc:
            self.results.append(Check(self.component, name, "skip", str(exc)))
            return None
        except Exception as exc:  # the component's mistake, reported, not raised
            last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
            self.results.append(Check(self.component, name, "fail", f"{type(exc).__name__}: {exc}{where}"))
            return False
        self.results.append(Check(self.component, name, "pass", detail or ""))
        return True


class _Skip(Exception):
    pass


def module_import_cost(module: str) -> tuple[bool, float]:
    """(imports torch?, seconds) for importing ``module`` in a fresh interpreter."""
    code = (f"import sys, time; t = time.perf_counter(); import {module}; "
            "print('torch' in sys.modules, time.perf_counter() - t)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # this process's view
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {done.stderr.strip().splitlines()[-1:]}")
    torch_seen, seconds = done.stdout.split()
    return torch_seen == "True", float(seconds)


def check_plugin_module(name: str, module: str) -> list[Check]:
    r = _Runner(f"plugin {name}")

    def no_torch() -> str:
        imports_torch, seconds = module_import_cost(module.split(":")[0])
        if imports_torch:
            raise AssertionError(f"importing {module} imports torch ({seconds:.2f} s added to every `hub list`); "
                                 "import torch inside the factories instead")
        return f"{seconds * 1000:.0f} ms, torch not imported"

    r.run("registering imports no torch", no_torch)
    return r.results


def _inputs(spec: Any, batch: int, size: int | None = None, seq: int = 8) -> tuple[Any, ...]:
    import torch

    from ..exporting.onnx_export import example_inputs

    if spec.modality == "image":
        h, w = spec.input.size
        side = (size, size) if size else (h, w)
        return example_inputs(spec.input_names, {"size": side, "channels": spec.input.channels}, batch=batch)
    torch.manual_seed(0)
    return example_inputs(spec.input_names, {}, batch=batch, seq=seq)


def check_backbone(spec: Any, *, export: bool = True, qualified: str | None = None) -> list[Check]:
    """Build, forward at two sizes, parameter count, layer groups, freezing, determinism, safetensors,
    pretrained sources and (``export``) ONNX with dynamic axes + onnxruntime + one int8 variant."""
    import torch

    from ..model import build_backbone
    from ..specs import validate_spec
    from ..weights import pretrained_status

    r = _Runner(f"backbone {qualified or spec.name}")
    if not r.run("spec is complete and valid", lambda: validate_spec(spec, "backbone")):
        return r.results
    status = pretrained_status(spec)
    text = spec.modality == "text"
    if text and not status.available:  # text backbones build from their weights folder (config, tokenizer)
        r.run("builds", lambda: None, needs=False, skip=f"pretrained weights unavailable ({status.detail})")
        return r.results
    box: dict[str, Any] = {}

    def build() -> str:
        torch.manual_seed(0)
        box["model"] = build_backbone(spec, dict(spec.options), text).eval()
        return f"{type(box['model']).__name__}"

    if not r.run("builds" + (" (from its weights folder)" if text else " from random init"), build):
        return r.results
    model = box["model"]
    r.run("forward returns (batch, feature_dim) at two " + ("sequence lengths" if text else "input sizes"),
          lambda: _forward_shapes(spec, model, text))
    r.run("num_params matches the model", lambda: _param_count(spec, model), needs=spec.num_params is not None,
          skip="num_params not declared")
    groups = [(g.name, g.prefixes) for g in spec.layer_groups]
    r.run("layer groups cover every parameter exactly once", lambda: _coverage(model, groups), needs=bool(groups),
          skip="no layer groups declared (partial / gradual-unfreeze / layer-wise lr unavailable)")
    r.run("freezing and unfreezing each group", lambda: _freezing(spec, model, groups), needs=bool(groups),
          skip="no layer groups")
    model.eval()
    r.run("eval mode is deterministic", lambda: _deterministic(spec, model))
    r.run("state dict round-trips through safetensors", lambda: _roundtrip(spec, model, text))

    r.run("pretrained weights resolve, verify and load strictly", lambda: _pretrained(spec, text, status))
    r.run("exports to ONNX with dynamic axes; onnxruntime matches; int8 variant",
          lambda: _export(spec, model), needs=export, skip="export checks off")
    return r.results


def _forward_shapes(spec: Any, model: Any, text: bool) -> str:
    import torch

    sizes = [(2, None, 8), (3, None, 13)] if text else [(2, None, 8), (3, spec.input.size[0] + 32, 8)]
    seen = []
    for batch, size, seq in sizes:
        with torch.no_grad():
            out = model(*_inputs(spec, batch, size, seq))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (batch, spec.feature_dim):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise AssertionError(f"returned {shape} for batch {batch}, expected (batch, feature_dim="
                                 f"{spec.feature_dim}); fix feature_dim in the BackboneSpec or pool in forward")
        seen.append(f"{'seq' if text else 'size'} {seq if text else size or spec.input.size[0]}")
    return "(batch, feature_dim) at " + " and ".join(seen)


def _param_count(spec: Any, model: Any) -> str:
    actual = sum(p.numel() for p in model.parameters())
    if actual != spec.num_params:
        raise AssertionError(f"num_params={spec.num_params} but the module has {actual}; fix num_params")
    return f"{actual:,}"


def _coverage(model: Any, groups: list) -> str:
    orphans, doubles = [], []
    for name, _ in model.named_parameters():
        hits = [g for g, prefixes in groups if any(name.startswith(p) for p in prefixes)]
        (orphans if not hits else doubles if len(hits) > 1 else []).append(name)
    if orphans or doubles:
        raise AssertionError(f"parameters in no group: {orphans[:3]}; in several groups: {doubles[:3]}; "
                             "fix layer_groups' prefixes")
    return f"{len(groups)} groups cover every parameter once"


def _freezing(spec: Any, model: Any, groups: list) -> str:
    from ..model import group_of

    idle = []  # groups the features do not depend on (e.g. a pooler with mean pooling)
    for group, _ in groups:
        for name, p in model.named_parameters():
            p.requires_grad_(group_of(name, groups) == group)
            p.grad = None
        out = model(*_inputs(spec, 2)).float().sum()
        if not out.requires_grad:
            idle.append(group)
            continue
        out.backward()
        leaked = [n for n, p in model.named_parameters() if p.grad is not None and group_of(n, groups) != group]
        if leaked:
            raise AssertionError(f"with only {group!r} trainable, {leaked[:2]} got gradients")
    for p in model.parameters():
        p.requires_grad_(True)
        p.grad = None
    return "each group trains alone" + (f"; not used by the features: {', '.join(idle)}" if idle else "")


def _deterministic(spec: Any, model: Any) -> str:
    import torch

    x = _inputs(spec, 2)
    with torch.no_grad():
        a, b = model(*x), model(*x)
    if not torch.equal(a, b):
        raise AssertionError("two eval-mode forwards differ: dropout or sampling left on in eval()")
    return ""


def _roundtrip(spec: Any, model: Any, text: bool) -> str:
    import torch
    from safetensors.torch import load_file, save_file

    from ..model import build_backbone

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        torch.manual_seed(1)
        fresh = build_backbone(spec, dict(spec.options), text).eval()
        fresh.load_state_dict(load_file(str(path)), strict=True)
    x = _inputs(spec, 2)
    with torch.no_grad():
        if not torch.allclose(model(*x), fresh(*x), atol=1e-6):
            raise AssertionError("a fresh build loaded with the saved state dict gives other features")
    return ""


def _pretrained(spec: Any, text: bool, status: Any) -> str:
    from ..model import build_backbone

    if not status.available:
        raise _Skip(f"unavailable here ({status.short}: {status.detail})")
    build_backbone(spec, dict(spec.options), True)
    return f"{status.short}: {status.detail}"


def _export(spec: Any, backbone: Any) -> str:
    import numpy as np
    import onnxruntime as ort
    import torch

    from ..exporting import variants
    from ..exporting.onnx_export import export_onnx
    from ..model import HubModel

    head = torch.nn.Linear(spec.feature_dim, 3)
    model = HubModel(backbone, head, spec.input_names).eval()
    contract = {"size": list(spec.input.size), "channels": spec.input.channels} if spec.modality == "image" else {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        export_onnx(model, spec.input_names, ["logits"], contract, fp32, 18, where=f"backbone {spec.name}")
        session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
        worst = 0.0
        for batch, seq in ((1, 8), (5, 11)):  # other batch (and sequence) sizes than the trace's
            x = _inputs(spec, batch, None, seq)
            with torch.no_grad():
                want = model(*x).numpy()
            try:
                got = session.run(None, {n: t.numpy() for n, t in zip(spec.input_names, x)})[0]
            except Exception as exc:
                raise AssertionError(f"onnxruntime failed at batch {batch}" + (f", sequence {seq}" if spec.modality ==
                                     "text" else "") + f" (an axis probably became static in the export: "
                                     f"e.g. int(x.shape[0]) or a Python number in forward): {str(exc)[:200]}") from None
            if got.shape != want.shape:
                raise AssertionError(f"onnxruntime gave {got.shape} for input batch {batch}, expected {want.shape}: "
                                     "an axis became static in the export")
            # the gate's element-wise rule (atol 1e-4, rtol 1e-3): random-init features can be large
            excess = np.abs(got - want) - (1e-4 + 1e-3 * np.abs(want))
            worst = max(worst, float(np.abs(got - want).max()))
            if (excess > 0).any():
                raise AssertionError(f"onnxruntime differs from PyTorch beyond |diff| <= 1e-4 + 1e-3*|torch| "
                                     f"(max |diff| {worst:.3g}, logits up to {float(np.abs(want).max()):.3g})")
        int8 = Path(tmp) / "model_int8.onnx"
        try:
            variants.make_variant("int8-dynamic", fp32, int8, family=spec.family)
            x = _inputs(spec, 2)
            got = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(
                None, {n: t.numpy() for n, t in zip(spec.input_names, x)})[0]
            with torch.no_grad():
                drift = float(np.abs(got - model(*x).numpy()).max())
            note = f"int8-dynamic max |diff| {drift:.3g} (judged by the gate on real data at export)"
        except Exception as exc:  # reported, like the gate reports a variant it cannot make
            note = f"int8-dynamic could not be made: {type(exc).__name__}: {exc}"
    return f"fp32 max |diff| {worst:.2e} at batch 1 and 5; {note}"
