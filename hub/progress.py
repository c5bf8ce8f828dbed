"""Progress bars for the slow steps outside the training loop (feature caching, export, gate, verification).

Why one switch instead of a ``progress=`` argument on every function: the slow
steps sit several calls deep (``export_run`` → ``build`` → ``gate.check_variant``),
and threading a flag through every signature on the way would touch public
APIs for a cosmetic concern. ``hub run --no-progress`` (and ``progress=False``
in the Python API) sets :func:`enabled` for the duration of the job; the bars
themselves are tqdm's, drawn on stderr, and vanish when done (``leave=False``),
and tqdm turns itself off where stderr is not a terminal (``disable=None``),
so logs and captured output stay clean.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("hub_progress", default=True)


@contextlib.contextmanager
def enabled(flag: bool) -> Iterator[None]:
    """Within the block, bars are drawn (where stderr is a terminal) only if ``flag``."""
    token = _ENABLED.set(bool(flag))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def is_enabled() -> bool:
    return _ENABLED.get()


@contextlib.contextmanager
def shown(show: bool) -> Iterator[None]:
    """One verb's bars on or off (``--no-progress``); off also silences huggingface_hub's upload and
    download bars, which a verb that pushes or pulls would otherwise still draw."""
    if not show:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    with enabled(show and is_enabled()):
        yield


def _disable() -> bool | None:
    return None if _ENABLED.get() else True  # None: tqdm decides (off when stderr is not a terminal)


def bar(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterable[T]:
    """``iterable`` wrapped in a transient bar (or returned as is with progress off)."""
    if not _ENABLED.get():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, disable=_disable(), dynamic_ncols=True)


class Steps:
    """A bar over the named steps of one stage: ``with steps("gate int8"): ...`` shows the step, then counts it."""

    def __init__(self, total: int, desc: str) -> None:
        self._bar: Any = None
        if _ENABLED.get():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="step", leave=False, disable=_disable(),
                             dynamic_ncols=True)

    @contextlib.contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=True)
        yield
        if self._bar is not None:
            self._bar.update(1)

    def add(self, count: int) -> None:
        """Steps discovered late (e.g. the variants that ``--target edge`` adds)."""
        if self._bar is not None and self._bar.total is not None:
            self._bar.total += count
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
