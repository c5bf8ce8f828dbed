"""``hub list``: the components installed plugins provide, by kind and glob."""

from __future__ import annotations

from typing import Any

import click

from ._output import echo_json, echo_table, human_count, warn_broken

KINDS = ("backbones", "heads", "tasks", "datasets", "augmentations", "adaptations")


@click.command("list")
@click.argument("kind", required=False, metavar="[KIND]")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_components(kind: str | None, pattern: str | None, as_json: bool) -> None:
    """List components. KIND is one of backbones, heads, tasks, datasets, augmentations,
    adaptations; PATTERN a
    glob such as 'resnet*'. A single argument that is not a kind is a pattern."""
    from ..plugins import get_hub
    from ..specs import spec_to_dict

    if kind is not None and kind not in KINDS and kind.rstrip("s") + "s" not in KINDS:
        if pattern is not None:
            raise click.UsageError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
        kind, pattern = None, kind
    if kind is not None:
        kind = kind.rstrip("s") + "s"
    hub = get_hub()
    warn_broken(hub)
    components = hub.registry.list(kind, pattern)
    if as_json:
        echo_json([_as_json(c, spec_to_dict) for c in components])
        return
    if not components:
        click.echo(f"no {kind or 'components'} match" + (f" {pattern!r}" if pattern else ""))
        return
    if kind is None:
        rows = [(c.kind, c.name, c.plugin, _summary(c)) for c in components]
        echo_table(("kind", "name", "plugin", "summary"), rows)
    else:
        headers, row = _COLUMNS[kind]
        echo_table(headers, [row(c) for c in components])


def _as_json(component: Any, spec_to_dict: Any) -> dict[str, Any]:
    data = {"kind": component.kind, "name": component.name, "qualified_name": component.qualified_name,
            "plugin": component.plugin}
    data.update(spec_to_dict(component.spec))
    data["name"] = component.name
    available, reason = _availability(component)
    data["available"] = available
    data["availability"] = reason
    if component.kind == "backbone":
        from ..weights import pretrained_status

        data["pretrained"] = pretrained_status(component.spec).as_dict()
    return data


def _availability(component: Any) -> tuple[bool, str]:
    from ..specs import ref_available, run_check

    if not ref_available(component.spec.factory):
        return False, f"factory module of {component.spec.factory!r} is not installed"
    return run_check(component.spec)


def _summary(c: Any) -> str:
    return c.spec.description.split(". ")[0][:70]


def _backbone_row(c: Any) -> tuple[Any, ...]:
    from ..weights import pretrained_status

    s = c.spec
    return (c.name, c.plugin, s.modality, s.feature_dim, human_count(s.num_params), pretrained_status(s).short, s.license)


def _dataset_row(c: Any) -> tuple[Any, ...]:
    ok, reason = _availability(c)
    return (c.name, c.plugin, c.spec.modality, c.spec.task, "yes" if ok else f"no: {reason}")


_COLUMNS = {
    "backbones": (("name", "plugin", "modality", "features", "params", "pretrained", "license"), _backbone_row),
    "heads": (("name", "plugin", "options", "summary"),
              lambda c: (c.name, c.plugin, ", ".join(f"{k}={v}" for k, v in c.spec.options.items()), _summary(c))),
    "tasks": (("name", "plugin", "modalities", "metrics", "pipeline_tag"),
              lambda c: (c.name, c.plugin, ",".join(c.spec.modalities), ",".join(c.spec.metrics), c.spec.pipeline_tag)),
    "datasets": (("name", "plugin", "modality", "task", "available"), _dataset_row),
    "augmentations": (("name", "plugin", "modality", "options", "summary"),
                      lambda c: (c.name, c.plugin, c.spec.modality,
                                 ", ".join(f"{k}={v}" for k, v in c.spec.options.items()), _summary(c))),
    "adaptations": (("name", "plugin", "frozen-backbone", "options", "summary"),
                    lambda c: (c.name, c.plugin, "no" if c.spec.needs_trainable_backbone else "yes",
                               ", ".join(f"{k}={v}" for k, v in c.spec.options.items()), _summary(c))),
}
