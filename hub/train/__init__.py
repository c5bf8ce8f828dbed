"""The shared trainer: one loop for every backbone/head/task, with transfer strategies."""

from .._callable import make_callable

make_callable(__name__, "train")  # hub.train(...) is hub.api.train(...)
