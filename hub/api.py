"""The top-level Python API: ``hub.train``, ``hub.export``, ``hub.push``, ``hub.run``, ``hub.load``.

Each is the function its CLI verb calls, with the everyday defaults filled
in (the installed plugins, the default zoo.toml, a timestamped output
folder), so a notebook needs one import::

    import hub
    result = hub.train("digits-lite0", out="runs/digits", overrides=["train.epochs=3"])
    report = hub.export("runs/digits", "runs/digits-onnx", quantize=["int8-static"])
    pushed = hub.push("runs/digits-onnx", "me/digits")
    model = hub.load("me/digits@" + pushed.commit_sha)
    print(model.predict(["docs/samples/digit-0.png"])[0]["label"])

Nothing here imports torch at import time: ``import hub`` stays cheap, and a
deployer's ``hub.load`` needs only onnxruntime.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typing only: importing hub stays torch-free and cheap
    from .leaderboard.collect import Collected
    from .leaderboard.results import Pick
    from .pipeline import Outcome
    from .publish.push import PushResult
    from .recipes import Recipe
    from .runtime import Model
    from .training.api import TrainResult


def recipe(entry: Any = None, *, backbone: str | None = None, dataset: str | None = None,
           overrides: Sequence[str] = (), zoo: str | Path | None = None) -> Recipe:
    """A validated :class:`hub.recipes.Recipe`: a zoo entry name, or ``backbone`` + ``dataset``, plus
    ``--set``-style ``overrides`` (``"train.lr=0.01"``). A Recipe passed in is returned as it is."""
    from .recipes import Recipe

    if isinstance(entry, Recipe):
        if overrides:
            raise ValueError("overrides apply to an entry name, not to a built Recipe")
        return entry
    import copy

    from .errors import HubError
    from .plugins import get_hub
    from .zoo import apply_override, load_catalogue, recipe_from_table

    registry = get_hub().registry
    if entry is not None:
        catalogue = load_catalogue(zoo)
        catalogue.entry(entry)
        if not overrides:
            return catalogue.recipe(entry, registry)
        raw, name = copy.deepcopy(catalogue.raw[entry]), entry
    elif backbone and dataset:
        raw, name = {"backbone": backbone, "dataset": dataset}, "adhoc"
    else:
        raise HubError("give a zoo entry name, or both backbone= and dataset=")
    for assignment in overrides:
        apply_override(raw, assignment)
    return recipe_from_table(name, raw, registry, source="python")


def _out(out: str | Path | None, name: str) -> Path:
    return Path(out) if out is not None else Path(f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def train(entry: Any = None, *, out: str | Path | None = None, backbone: str | None = None,
          dataset: str | None = None, overrides: Sequence[str] = (), resume: bool = False,
          progress: bool = True, zoo: str | Path | None = None) -> TrainResult:
    """Train a recipe into a run directory; returns :class:`hub.training.api.TrainResult` (run_dir, summary).
    With ``resume=True``, ``out`` is the run directory to continue (its own recipe is used)."""
    from .plugins import get_hub
    from .training.api import train as run_training

    if resume:
        from .training.rundir import read_run_info

        if out is None:
            raise ValueError("resume=True needs out= (the run directory to continue)")
        chosen = read_run_info(Path(out)).recipe
    else:
        chosen = recipe(entry, backbone=backbone, dataset=dataset, overrides=overrides, zoo=zoo)
    return run_training(chosen, _out(out, chosen.name), get_hub().registry, resume=resume, progress=progress)


def export(run_dir: str | Path, out: str | Path | None = None, **options: Any) -> dict[str, Any]:
    """Export a run to ONNX through the validation gate; returns the report (see ``hub.exporting.export_run``
    for ``quantize``, ``target``, ``opset``, ``gate_options``)."""
    from .exporting.pipeline import export_run
    run_dir = Path(run_dir)
    return export_run(run_dir, Path(out) if out is not None else run_dir.with_name(run_dir.name + "-onnx"), **options)


def push(export_dir: str | Path, repo_id: str, **options: Any) -> PushResult:
    """Publish an export folder in one commit; returns :class:`hub.publish.PushResult`."""
    from .publish import push as push_dir

    return push_dir(export_dir, repo_id, **options)


def run(entry: Any = None, *, out: str | Path | None = None, overrides: Sequence[str] = (), publish: bool = True,
        repo: str | None = None, endpoint: str | None = None, progress: bool = True,
        zoo: str | Path | None = None, **kw: Any) -> Outcome:
    """The whole job of ``hub run``: train, export + gate, push; returns :class:`hub.pipeline.Outcome`.
    Into the same ``out`` (default ``runs/NAME``) again, stages whose inputs did not change are reused
    (``force=True`` redoes them). A zoo entry with an ``ensemble`` key trains its members and publishes
    their one averaged graph, exactly as ``hub run ENTRY`` does (the same runner)."""
    from .pipeline import run as run_pipeline
    from .pipeline_ensemble import runner_for
    from .plugins import get_hub

    chosen = recipe(entry, overrides=overrides, zoo=zoo, backbone=kw.pop("backbone", None),
                    dataset=kw.pop("dataset", None))
    runner = (runner_for(entry, str(zoo) if zoo else None, overrides) if isinstance(entry, str) else None) \
        or run_pipeline
    return runner(chosen, get_hub().registry, Path(out or f"runs/{chosen.name}"), publish=publish, repo=repo,
                  endpoint=endpoint, progress=progress, **kw)


def load(path_or_repo: str | Path, **options: Any) -> Model:
    """Open an exported model with onnxruntime alone (a folder, or ``namespace/name[@revision]``)."""
    from .runtime import load as load_model

    return load_model(path_or_repo, **options)


def bench_zoo(entries: Sequence[str] | None = None, *, out: str | Path = "zoo-bench", threads: int = 2,
              iters: int = 50, publish: bool = True, endpoint: str | None = None,
              zoo: str | Path | None = None, **kw: Any) -> Collected:
    """``hub zoo bench``: each entry's job (every runnable entry when ``entries`` is None), each kept variant timed on
    this machine; rows merged into OUT/results/<machine>.csv (and the hub's zoo/leaderboard when publishing)."""
    from .leaderboard.collect import bench_entries, log, runnable
    from .plugins import get_hub
    from .zoo import load_catalogue

    catalogue = load_catalogue(str(zoo) if zoo else None)
    names, skipped = runnable(catalogue) if entries is None else (list(entries), {})
    for name in names:
        catalogue.entry(name)  # unknown names fail before any job runs
    note = kw.get("note", log.info)
    for name, why in skipped.items():
        note(f"{name}: skipped, {why}")
    done = bench_entries(catalogue, names, Path(out), get_hub().registry, threads=threads, iters=iters,
                         publish=publish, endpoint=endpoint, zoo_path=str(zoo) if zoo else None, **kw)
    done.skipped = skipped
    return done


def pick(dataset: str, max_latency_ms: float, *, runtime: str | None = None, max_size_mb: float | None = None,
         source: str | None = None, endpoint: str | None = None, any_machine: bool = False,
         threads: int | None = None, metric: str | None = None) -> Pick:
    """``hub zoo pick``: the most accurate measured entry/variant within the budget (``.best`` is None when
    nothing fits; ``.closest`` then says what would)."""
    from .leaderboard.results import pick as choose
    from .leaderboard.sources import load_rows
    from .runtime.machine import describe

    rows, where = load_rows(source, endpoint)
    answer = choose(rows, dataset=dataset, max_latency_ms=max_latency_ms, runtime=runtime, max_size_mb=max_size_mb,
                    cpu=None if any_machine else describe()["cpu"], threads=threads, metric=metric)
    answer.source = where
    return answer
