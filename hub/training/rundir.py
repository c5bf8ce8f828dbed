"""The run directory: everything a training run leaves for export, resume and the model card.

Layout::

    RUN_DIR/
      run.json              what was trained: resolved recipe, components, labels,
                            input contract, hub version (written first, atomically)
      weights.safetensors   final weights of the HubModel (best ones with early stopping)
      best.safetensors      best validation weights so far
      checkpoints/          resumable state; last.json points at the newest
      metrics.jsonl         one JSON object per epoch
      summary.json          final metrics on validation and test, timings
      curves.png confusion.png

Later stages read it through :func:`load_run`, which rebuilds the exact
model (same components, options, input contract) from ``run.json`` alone.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..version import __version__
from ..errors import HubError, RunDirError  # noqa: F401 (defined in hub.errors, importable here)
from ..fsutil import atomic_write_json
from ..recipes import AdaptConfig, ComponentRef, DistillConfig, ExportConfig, FieldError, PublishConfig, Recipe, TrainConfig, build_section
from ..registry import Registry
from ..specs import ImageInput, TextInput

RUN_FILE = "run.json"
WEIGHTS = "weights.safetensors"
BEST = "best.safetensors"


@dataclass
class RunInfo:
    """``run.json``: the recipe plus facts fixed when the run started."""

    recipe: Recipe
    label_names: tuple[str, ...]
    input: ImageInput | TextInput
    modality: str
    hub_version: str = __version__
    backbone: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "hub_version": self.hub_version,
            "recipe": self.recipe.to_dict(),
            "label_names": list(self.label_names),
            "modality": self.modality,
            "input": dataclasses.asdict(self.input),
            "backbone": self.backbone,
        }


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    atomic_write_json(Path(run_dir) / RUN_FILE, info.to_dict())


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """Rebuild a :class:`Recipe` from ``Recipe.to_dict()`` output (validated again)."""
    sections = {}
    for key, cls in (("train", TrainConfig), ("export", ExportConfig), ("publish", PublishConfig)):
        sections[key] = build_section(cls, data.get(key, {}), (key,))
    for k in ("backbone", "head", "task", "dataset"):
        if not isinstance(data[k], dict) or not isinstance(data[k].get("name"), str) \
                or not isinstance(data[k].get("options", {}), dict):
            raise TypeError(f"recipe.{k} must be an object with a string 'name' and an 'options' object")
    sections["adapt"] = build_section(AdaptConfig, data["adapt"], ("adapt",)) if data.get("adapt") else None
    sections["distill"] = build_section(DistillConfig, data["distill"], ("distill",)) if data.get("distill") else None
    refs = {k: ComponentRef(data[k]["name"], data[k].get("options", {})) for k in ("backbone", "head", "task", "dataset")}
    return Recipe(
        name=data["name"], pretrained=data.get("pretrained", True), weights=data.get("weights", ""), input_size=data.get("input_size", {}),
        description=data.get("description", ""), tags=tuple(data.get("tags", ())), source=data.get("source", ""),
        **refs, **sections,
    )


def read_run_info(run_dir: Path) -> RunInfo:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a run directory (no {RUN_FILE}); train one with `hub train`")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable ({exc}); the run directory is damaged") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: holds a JSON {type(data).__name__}, not an object; the run directory is damaged")
    major = lambda v: str(v).split(".")[0]  # noqa: E731
    if data.get("format") != 1 or major(data.get("hub_version", "?")) != major(__version__):
        raise RunDirError(
            f"{path}: made by hub {data.get('hub_version')!r} (format {data.get('format')!r}); "
            f"this hub {__version__} reads format 1 of the same major version; retrain or use that hub"
        )
    try:
        return _run_info(data)
    except FieldError as exc:
        raise RunDirError(f"{path}: recipe.{'.'.join(exc.path)}: {exc}; the run directory is damaged "
                          "(edited by hand?): restore run.json or retrain") from None
    except KeyError as exc:
        raise RunDirError(f"{path}: missing {exc}; the run directory is damaged: restore run.json or retrain") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise RunDirError(f"{path}: malformed ({type(exc).__name__}: {exc}); the run directory is damaged: "
                          "restore run.json or retrain") from None


def _run_info(data: dict[str, Any]) -> RunInfo:
    """Build :class:`RunInfo`; any shape error surfaces as KeyError/TypeError/ValueError for the caller."""
    modality = data["modality"]
    if modality not in ("image", "text"):
        raise ValueError(f"modality {modality!r} is not 'image' or 'text'")
    input_cls = ImageInput if modality == "image" else TextInput
    if not isinstance(data["input"], dict) or not isinstance(data["recipe"], dict):
        raise TypeError("'input' and 'recipe' must be JSON objects")
    labels = data["label_names"]
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(n, str) for n in labels):
        raise ValueError("'label_names' must be a list of at least two strings")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data["input"].items()}
    return RunInfo(
        recipe=recipe_from_dict(data["recipe"]),
        label_names=tuple(labels),
        input=input_cls(**fields),
        modality=modality,
        hub_version=str(data["hub_version"]),
        backbone=data.get("backbone", {}),
    )


def load_run(run_dir: Path, registry: Registry, weights: str = WEIGHTS, job: Any = None):
    """Rebuild the trained model of a run: ``(info, components, model)`` in eval mode.

    ``job`` (a :class:`hub.job.Job` of the same recipe) lends its components and resolved weights."""
    from ..model import build_model, components

    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    path = run_dir / weights
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {weights}; the run did not finish (resume it with `hub train --resume {run_dir}`)")
    comps = job.components if job is not None else components(info.recipe, registry)
    model = build_model(info.recipe, comps, len(info.label_names), pretrained=_needs_folder(info), job=job)
    state = read_weights(path)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches: torch's message spans many lines
        raise RunDirError(f"{path}: weights do not fit the model ({_first_line(exc)}); the run directory is damaged "
                          "or from another recipe") from None
    if missing or unexpected:
        raise RunDirError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return info, comps, model.eval()


def read_weights(path: Path) -> dict[str, Any]:
    """A safetensors file as tensors; a garbled, truncated or empty file is one clear error."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError, ValueError)
        raise RunDirError(f"{path}: not a readable safetensors file ({_first_line(exc)}); the run directory is "
                          "damaged: retrain, or resume it with `hub train --resume`") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _needs_folder(info: RunInfo) -> bool:
    """Text backbones build from their pretrained folder; image ones can start empty."""
    return info.modality == "text"
