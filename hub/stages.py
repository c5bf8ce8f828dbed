"""Which stages of a ``hub run`` job can be reused: fingerprints of their inputs, kept in OUT/stages.json.

Re-running the same ``hub run`` should cost nothing for the stages whose inputs
did not change — the habit DVC's ``repro`` and Make taught: a stage is redone
when its recipe section, the code that runs it or the data it reads changed,
and every stage after a redone one is redone too (its fingerprint includes the
one before). The three inputs are hashed separately so a redo can say why:

* **recipe** — the canonical JSON of the sections the stage reads;
* **code** — the source files of ``hub`` and of every plugin package that
  provides one of the recipe's components, plus the versions of torch, onnx and
  onnxruntime (conservative: an edit anywhere in those packages counts);
* **data** — the bytes of every split of the dataset (and of an adaptation
  target), labels included.

The log is written atomically after a stage finished, and a stage's entry (and
every later one) is dropped before it starts, so a job killed mid-stage never
looks finished. A damaged or foreign stages.json means "reuse nothing".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .fingerprints import code_fingerprint, data_fingerprint, digest  # noqa: F401 (the stage log's vocabulary)
from .fsutil import atomic_write_json

log = logging.getLogger(__name__)

FILE = "stages.json"
FORMAT = 1
ORDER = ("train", "export", "verify")
_MAX_BYTES = 1 << 20  # our own small file; anything larger was not written by us


class StageLog:
    """OUT/stages.json: per stage, the fingerprint of its inputs and what later stages need of its result."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / FILE
        self.stages: dict[str, dict[str, Any]] = self._read()
        self._dropped: set[str] = set()  # later stages forgotten because an earlier one is redone

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            if self.path.stat().st_size > _MAX_BYTES:
                raise ValueError("too large")
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("stages"), dict):
                raise ValueError("not a stages.json of this hub")
            return {k: v for k, v in data["stages"].items() if k in ORDER and isinstance(v, dict)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            log.warning("%s cannot be used (%s); every stage runs again", self.path, exc)
            return {}

    def why_not(self, stage: str, inputs: Mapping[str, str]) -> str | None:
        """None when ``stage`` finished with exactly these inputs; else which inputs changed."""
        entry = self.stages.get(stage)
        if entry is None:
            return "an earlier stage was redone" if stage in self._dropped else "not run before"
        old = entry.get("inputs", {})
        changed = [k for k in inputs if old.get(k) != inputs[k]]
        return f"{', '.join(changed)} changed" if changed else None

    def result(self, stage: str) -> dict[str, Any]:
        return dict(self.stages[stage].get("result", {}))

    def start(self, stage: str) -> None:
        """Forget ``stage`` and every later one before it runs: a killed job must not look finished."""
        later = ORDER[ORDER.index(stage):]
        self._dropped.update(s for s in later[1:] if s in self.stages)
        if any(s in self.stages for s in later):
            for s in later:
                self.stages.pop(s, None)
            self._write()

    def finish(self, stage: str, inputs: Mapping[str, str], result: Mapping[str, Any], seconds: float) -> None:
        self.stages[stage] = {"inputs": dict(inputs), "result": dict(result), "seconds": round(seconds, 2),
                              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write()

    def stage(self, stage: str, inputs: Mapping[str, str], *, label: str, where: Any, unchanged: str,
              reuse: Callable[[], Any], redo: Callable[[], Any], note: Callable[[str], None],
              force: bool = False, why: str | None = None, keep: Callable[[Any], Mapping[str, Any]] | None = None) -> Any:
        """Reuse ``stage`` (``reuse()`` gives its result, or None when its output is gone) or ``redo()`` it.

        ``why`` forces a redo with that reason (e.g. "resumed"); ``keep(result)`` is what the log keeps
        for a later reuse of a stage whose output is not a file (default: nothing)."""
        why = "forced" if force else (why or self.why_not(stage, inputs))
        if why is None:
            result = reuse()
            if result is not None:
                note(f"{label}: reused {where} ({unchanged})")
                return result
            why = "its output is missing"
        note(f"{label} ({why}) -> {where}")
        self.start(stage)
        started = time.perf_counter()
        result = redo()
        self.finish(stage, inputs, keep(result) if keep else {}, time.perf_counter() - started)
        return result

    def _write(self) -> None:
        atomic_write_json(self.path, {"format": FORMAT, "stages": self.stages})


@contextlib.contextmanager
def replacing(folder: Path) -> Iterator[None]:
    """Redo a stage whose output ``folder`` exists: the old output is set aside and removed only once the
    new one is complete; if the stage fails, the old output comes back untouched.

    ``folder`` must be the job's own output (the caller checked OUT with :func:`hub.fsutil.check_output_dir`).
    The aside name matches the leftovers that check skips, so a job killed here can be run again.
    """
    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.previous.old")
    if aside.exists():  # an earlier attempt was killed: ``aside`` is the last good output, ``folder`` is partial
        shutil.rmtree(folder, ignore_errors=True)
    elif folder.exists():
        os.replace(folder, aside)
    try:
        yield
    except BaseException:
        if aside.exists():
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(aside, folder)
        raise
    shutil.rmtree(aside, ignore_errors=True)
