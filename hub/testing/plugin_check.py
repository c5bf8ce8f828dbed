"""Conformance checks for heads, tasks and datasets, and ``check_plugin``: every component one plugin registered.

See :mod:`hub.testing.conformance` for the shape of a check and for backbones.
"""

from __future__ import annotations

from typing import Any

from .conformance import Check, _Runner, check_backbone, check_plugin_module


def check_head(spec: Any, *, qualified: str | None = None, in_features: int = 16, out_features: int = 3) -> list[Check]:
    """A head maps (batch, in) to (batch, out) and is deterministic in eval (dropout off)."""
    import torch

    from ..specs import resolve, validate_spec

    r = _Runner(f"head {qualified or spec.name}")
    if not r.run("spec is complete and valid", lambda: validate_spec(spec, "head")):
        return r.results
    box: dict[str, Any] = {}

    def build() -> str:
        box["head"] = resolve(spec.factory)(in_features=in_features, out_features=out_features, **dict(spec.options))
        return type(box["head"]).__name__

    if not r.run("builds with in_features/out_features", build):
        return r.results
    head = box["head"]

    def shape() -> str:
        out = head(torch.randn(4, in_features))
        if tuple(out.shape) != (4, out_features):
            raise AssertionError(f"(4, {in_features}) -> {tuple(out.shape)}, expected (4, {out_features})")
        return f"(4, {in_features}) -> (4, {out_features})"

    r.run("maps (batch, in) to (batch, out)", shape)

    def eval_mode() -> str:
        head.eval()
        x = torch.randn(8, in_features)
        with torch.no_grad():
            if not torch.equal(head(x), head(x)):
                raise AssertionError("two eval-mode calls differ: dropout is not turned off by eval()")
        return ""

    r.run("dropout is off in eval", eval_mode)
    return r.results


def check_task(spec: Any, *, qualified: str | None = None, num_classes: int = 3) -> list[Check]:
    """The task's loss is a scalar tensor and its metrics a dict holding every declared metric as a float."""
    import torch

    from ..specs import resolve, validate_spec

    r = _Runner(f"task {qualified or spec.name}")
    if not r.run("spec is complete and valid", lambda: validate_spec(spec, "task")):
        return r.results
    task = None

    def build() -> str:
        nonlocal task
        task = resolve(spec.factory)(num_classes=num_classes)
        return type(task).__name__

    if not r.run("builds with num_classes", build):
        return r.results
    logits, labels = torch.randn(6, num_classes), torch.tensor([0, 1, 2, 0, 1, 2])[:6] % num_classes

    def loss() -> str:
        value = task.loss(logits, labels)
        if not isinstance(value, torch.Tensor) or value.ndim != 0 or not torch.isfinite(value):
            raise AssertionError(f"loss returned {value!r:.60}, expected a finite scalar tensor")
        return f"{float(value):.3f}"

    def metrics() -> str:
        values = task.metrics(logits, labels)
        missing = [m for m in spec.metrics if m not in values]
        wrong = [k for k, v in values.items() if not isinstance(v, float)]
        if not isinstance(values, dict) or missing or wrong:
            raise AssertionError(f"metrics returned keys {sorted(values)}; missing {missing}, not float {wrong}")
        return ", ".join(f"{k}={v:.3f}" for k, v in values.items())

    r.run("loss is a finite scalar tensor", loss)
    r.run("metrics hold every declared metric as a float", metrics)
    return r.results


def check_dataset(spec: Any, *, qualified: str | None = None) -> list[Check]:
    """The factory returns a hub.data.Dataset with the documented types (checked like training checks it)."""
    import numpy as np

    from ..data import check_dataset_value
    from ..specs import resolve, run_check, validate_spec

    r = _Runner(f"dataset {qualified or spec.name}")
    if not r.run("spec is complete and valid", lambda: validate_spec(spec, "dataset")):
        return r.results
    if spec.required_options:
        r.run("loads", lambda: None, needs=False, skip=f"needs options {list(spec.required_options)}")
        return r.results
    ready, reason = run_check(spec)
    if not ready:
        r.run("loads", lambda: None, needs=False, skip=f"data not present here: {reason}")
        return r.results
    box: dict[str, Any] = {}

    def load() -> str:
        value = resolve(spec.factory)(**dict(spec.options))
        box["data"] = check_dataset_value(value, f"dataset {qualified or spec.name!r}", spec.modality)
        return ", ".join(f"{k} {len(v)}" for k, v in box["data"].splits.items())

    if not r.run("returns a hub.data.Dataset with the documented types", load):
        return r.results
    data = box["data"]

    def labels() -> str:
        for name, split in data.splits.items():
            y = np.asarray(split.labels)
            if len(y) != len(split) or not np.issubdtype(y.dtype, np.integer) or (len(y) and (
                    y.min() < 0 or y.max() >= len(data.label_names))):
                raise AssertionError(f"split {name!r}: labels must be one integer in 0..{len(data.label_names) - 1} "
                                     f"per example, got dtype {y.dtype}, {len(y)} labels for {len(split)} inputs")
        return f"{len(data.label_names)} classes"

    r.run("labels are integers in range, one per example", labels)
    r.run("the declared splits exist", lambda: _splits(spec, data))
    return r.results


def _splits(spec: Any, data: Any) -> str:
    missing = [s for s in spec.splits if s not in data.splits]
    if missing:
        raise AssertionError(f"DatasetSpec.splits lists {missing} but the dataset has {list(data.splits)}")
    return ", ".join(spec.splits)


def check_plugin(name: str, hub: Any = None, *, export: bool = True) -> list[Check]:
    """Every component plugin ``name`` registered, plus its module's import cost; a broken plugin is one failure."""
    from ..plugins import load_hub

    hub = hub or load_hub()
    info = next((p for p in hub.plugins if p.name == name), None)
    if info is None:
        known = ", ".join(sorted(p.name for p in hub.plugins))
        return [Check(f"plugin {name}", "is installed", "fail", f"no plugin {name!r} (installed: {known})")]
    if info.status != "ok":
        return [Check(f"plugin {name}", "loads", "fail", f"{info.status}: {info.error}")]
    results = check_plugin_module(name, info.module)
    checkers = {"backbone": lambda s, q: check_backbone(s, export=export, qualified=q), "head": check_head,
                "task": check_task, "dataset": check_dataset}
    for component in hub.registry.all():
        if component.plugin != name:
            continue
        checker = checkers.get(component.kind)
        if checker is None:
            results.append(Check(f"{component.kind} {component.qualified_name}", "conformance", "skip",
                                 "no conformance checks for this kind yet"))
            continue
        results += checker(component.spec, qualified=component.qualified_name) if component.kind != "backbone" \
            else checker(component.spec, component.qualified_name)
    return results
