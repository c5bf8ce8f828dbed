"""Resumable checkpoints, written atomically.

A checkpoint is a folder ``checkpoints/epoch-NNNN/`` holding the model
(safetensors), the optimiser and scheduler state plus RNG states (a plain
tensor/number dict, read back with ``weights_only=True``), and the trainer's
own state as JSON. The folder is complete before ``checkpoints/last.json``
is switched to it with one atomic rename, so a process killed at any moment
leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from ..fsutil import atomic_dir, atomic_file, atomic_write_json

DIR = "checkpoints"
POINTER = "last.json"


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Atomically write a module's weights (tied tensors stored once)."""
    with atomic_file(Path(path)) as tmp:
        save_model(model, str(tmp))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    missing, unexpected = load_model(model, str(path), strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the model (missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(unexpected)[:3]})")


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         scheduler: Any, state: dict[str, Any]) -> Path:
    root = Path(run_dir) / DIR
    name = f"epoch-{epoch:04d}"
    with atomic_dir(root / name) as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
                   tmp / "optim.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=2, default=float))
    atomic_write_json(root / POINTER, {"checkpoint": name, "epoch": epoch})
    for old in root.glob("epoch-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return root / name


def latest(run_dir: Path) -> Path | None:
    pointer = Path(run_dir) / DIR / POINTER
    if not pointer.is_file():
        return None
    path = pointer.parent / json.loads(pointer.read_text())["checkpoint"]
    return path if (path / "state.json").is_file() else None


def restore(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """Load a checkpoint into the given objects; returns the trainer state."""
    load_weights(model, path / "model.safetensors")
    blob = torch.load(path / "optim.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return json.loads((path / "state.json").read_text())
