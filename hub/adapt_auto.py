"""``adapt.method = "auto"``: the recipe side (torch-free: recipes are checked by ``hub list`` too).

No adaptation method wins on every shift (BENCHMARKS.md), and the user of
unsupervised adaptation has no target labels to pick one with. ``auto``
trains candidate methods and keeps one by a criterion computed on the
target's *unlabelled* validation data (hub/training/auto_adapt.py runs it,
hub/training/selection.py holds the criteria). Here: its options, checked
when the recipe is resolved, so a typo fails before anything trains.

    [entries.X.adapt]
    method = { name = "auto", candidates = ["none", "coral", "mcc"], epochs = 2, criterion = "rv" }
    target = "digits"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .recipes import FieldError

AUTO = "auto"
#: "none" as a candidate is the source-only model: adaptation can hurt, and then it should lose
NONE = "none"
#: rv: reverse validation (default); im: information maximisation; snd: soft neighbourhood density;
#: dev: deep embedded validation. hub/training/selection.py defines each.
CRITERIA = ("rv", "im", "snd", "dev")
OPTIONS = ("candidates", "exclude", "epochs", "criterion")


def check_auto(options: dict[str, Any], lookup: Callable[[str, tuple[str, ...]], str],
               path: tuple[str, ...] = ("adapt", "method")) -> dict[str, Any]:
    """The checked ``auto`` table, candidate names qualified by ``lookup(name, path) -> qualified name``.

    An empty ``candidates`` means every installed method that can run (decided at train time, when the
    backbone is built) plus ``none``.
    """
    for key in options:
        if key not in OPTIONS:
            raise FieldError(path + (key,), f"auto has no option {key!r}; its options: {', '.join(OPTIONS)}")
    out: dict[str, Any] = {"name": AUTO}
    for key in ("candidates", "exclude"):
        names = options.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise FieldError(path + (key,), f"must be a list of adaptation method names (or \"none\"), got {names!r}")
        if AUTO in names:
            raise FieldError(path + (key,), "auto cannot be its own candidate")
        qualified = [n if n == NONE else lookup(n, path + (key,)) for n in names]
        if len(set(qualified)) != len(qualified):
            raise FieldError(path + (key,), f"names a method twice: {names}")
        if qualified:
            out[key] = qualified
    if set(out.get("candidates", ())) and not set(out["candidates"]) - set(out.get("exclude", ())):
        raise FieldError(path + ("exclude",), "excludes every candidate; leave at least one")
    if "epochs" in options:
        epochs = options["epochs"]
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise FieldError(path + ("epochs",), f"each candidate needs at least one epoch to train, got {epochs!r}; "
                                                 "give 1..train.epochs, or leave it out for train.epochs")
        out["epochs"] = epochs
    criterion = options.get("criterion", CRITERIA[0])
    if criterion not in CRITERIA:
        raise FieldError(path + ("criterion",), f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    out["criterion"] = criterion
    return out


def is_auto(method: Any) -> bool:
    name = method.get("name") if isinstance(method, dict) else method
    return name == AUTO
