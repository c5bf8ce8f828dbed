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
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from ..fsutil import atomic_dir, atomic_file, atomic_write_json

DIR = "checkpoints"
POINTER = "last.json"
_NAME_RE = re.compile(r"^epoch-\d{4,}$")


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
    """The checkpoint ``last.json`` points at; a garbled pointer (or one leaving the folder) is refused."""
    pointer = Path(run_dir) / DIR / POINTER
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(f"names {name!r}, not a checkpoint folder epoch-NNNN")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise damaged(pointer, exc) from None
    path = pointer.parent / name
    return path if (path / "state.json").is_file() else None


def restore(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """Load a checkpoint into the given objects; returns the trainer state.

    Every way a checkpoint can be damaged (truncated safetensors, an optimiser file with a
    pickled object in it, which ``weights_only=True`` refuses, garbled JSON, a state from
    another model) ends as one :class:`~hub.training.rundir.RunDirError` line.
    """
    try:
        load_weights(model, path / "model.safetensors")
    except Exception as exc:
        raise damaged(path / "model.safetensors", exc) from None
    try:
        blob = torch.load(path / "optim.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        set_rng_state(blob["rng"])
    except Exception as exc:  # UnpicklingError (refused pickle), EOFError, RuntimeError, KeyError, ...
        raise damaged(path / "optim.pt", exc) from None
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        for key, kind in (("epoch", int), ("step", int), ("history", list), ("extra", dict)):
            if not isinstance(state[key], kind):
                raise TypeError(f"{key!r} is not a {kind.__name__}")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise damaged(path / "state.json", exc) from None
    return state


def damaged(path: Path, exc: BaseException) -> Exception:
    """One line for a damaged checkpoint file, whatever the library's message looked like."""
    from .rundir import RunDirError

    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
    if len(reason) > 200:
        reason = reason[:200] + "..."
    return RunDirError(f"{path}: damaged checkpoint ({reason}); it cannot be resumed: restore the file "
                       "or start a new run")
