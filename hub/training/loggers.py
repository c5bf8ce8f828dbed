"""Optional experiment loggers: the epoch metrics also go to TensorBoard and/or MLflow.

metrics.jsonl stays the record the hub itself reads; these exist for people
whose dashboards already live in TensorBoard or MLflow. Both write inside the
run directory (``tensorboard/``, ``mlruns/``, an MLflow file store), so a run
stays one self-contained folder and nothing is sent anywhere. The packages are
optional extras (``pip install 'zoohub[loggers]'``); a recipe that asks for a
missing one is refused before the run directory is claimed.
"""

from __future__ import annotations

import importlib.util
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import HubError
from .trainer import Callback, Trainer

_PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def check(names: Sequence[str]) -> None:
    for name in names:
        if importlib.util.find_spec(_PACKAGES[name]) is None:
            raise HubError(f"train.loggers asks for {name!r}, but the {_PACKAGES[name]} package is not installed; "
                           "pip install 'zoohub[loggers]' or remove it from train.loggers")


def _scalars(logs: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and k != "epoch"}


class TensorBoardLogger(Callback):
    """Scalars per epoch in RUN_DIR/tensorboard (torch.utils.tensorboard's event files)."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = Path(run_dir) / "tensorboard"
        self.writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.folder))

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        for key, value in _scalars(logs).items():
            self.writer.add_scalar(key, value, global_step=epoch + 1)
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()


class MLflowLogger(Callback):
    """Params and per-epoch metrics in an MLflow file store at RUN_DIR/mlruns; a resumed run
    continues the same MLflow run (its id is kept in the trainer state)."""

    def __init__(self, run_dir: Path, name: str, params: dict[str, Any]) -> None:
        self.uri = (Path(run_dir).resolve() / "mlruns").as_uri()
        self.name, self.params = name, params
        self.run: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        import os

        # MLflow 3 keeps the file store in maintenance mode behind this switch; a store inside the
        # run directory (no server, no database) is exactly what a self-contained run wants.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=self.uri)
        run_id = trainer.state.extra.get("mlflow_run_id")
        if run_id is None:
            experiment = client.get_experiment_by_name("hub")
            experiment_id = experiment.experiment_id if experiment else client.create_experiment("hub")
            run_id = client.create_run(experiment_id, run_name=self.name).info.run_id
            for key, value in self.params.items():
                client.log_param(run_id, key, str(value)[:500])
            trainer.state.extra["mlflow_run_id"] = run_id
        self.client, self.run = client, run_id

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        for key, value in _scalars(logs).items():
            self.client.log_metric(self.run, key, value, step=epoch + 1)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.run is not None:
            self.client.set_terminated(self.run)


def make(names: Sequence[str], run_dir: Path, name: str, params: dict[str, Any]) -> list[Callback]:
    check(names)
    out: list[Callback] = []
    if "tensorboard" in names:
        out.append(TensorBoardLogger(run_dir))
    if "mlflow" in names:
        out.append(MLflowLogger(run_dir, name, params))
    return out
