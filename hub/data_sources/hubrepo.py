"""Dataset repos on the configured hub: which hub, the commit a revision names, and one-line errors.

The hub and token are resolved exactly as ``hub push`` resolves them
(:func:`hub.publish.client.resolve_target`: ``HF_ENDPOINT``/``HF_TOKEN``, else the embedded local
``hub serve``). ``datasets`` reads its endpoint from module constants set at import time, so for a
hub other than the one ``HF_ENDPOINT`` named at import (the embedded server) :func:`endpoint` points
those constants at it for the duration of one read, under a lock, and restores them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..errors import DataError
from .names import Source

_LOCK = threading.RLock()


def target(endpoint: str | None = None, token: str | None = None) -> Any:
    """The hub to read from (a :class:`hub.publish.client.Target`); a bad configuration is a DataError."""
    from ..publish.client import resolve_target
    from ..publish.files import PublishError

    try:
        return resolve_target(endpoint, token)
    except PublishError as exc:
        raise DataError(str(exc)) from None


def resolve_revision(source: Source, where: Any = None) -> str:
    """The commit sha ``source``'s revision (default: the repo's default branch) names now."""
    where = where or target()
    try:
        info = where.api().dataset_info(source.where, revision=source.revision or None)
    except Exception as exc:
        raise read_error(exc, source, where) from None
    sha = getattr(info, "sha", None)
    if not isinstance(sha, str) or len(sha) != 40:
        raise DataError(f"dataset {source}: {where.endpoint} answered without a commit sha for "
                        f"{source.revision or 'the default branch'}; is it a Hugging Face-compatible hub?")
    return sha


def read_error(exc: BaseException, source: Source, where: Any) -> DataError:
    """A client or ``datasets`` failure while reading ``source`` as one line: what, where, what to do."""
    from huggingface_hub import errors as hf

    from ..publish.client import _chain, _transport_errors, status_of

    chain = _chain(exc)
    url = where.endpoint
    if any(isinstance(e, hf.RevisionNotFoundError) for e in chain):
        return DataError(f"dataset {source}: revision {source.revision!r} not found in {source.where} at {url}; "
                         "check the branch, tag or commit")
    if any(isinstance(e, hf.RepositoryNotFoundError) for e in chain) or type(exc).__name__ == "DatasetNotFoundError":
        return DataError(f"dataset {source}: no dataset repo {source.where} at {url} (or it is private and the token "
                         "may not read it); check the name, HF_ENDPOINT and HF_TOKEN (`hub dataset push` publishes one)")
    if any(isinstance(e, _transport_errors()) for e in chain):
        return DataError(f"dataset {source}: cannot reach the hub at {url} ({type(exc).__name__}); start it "
                         "(`hub serve`) or set HF_ENDPOINT to a running hub")
    status = status_of(exc)
    if status in (401, 403):
        return DataError(f"dataset {source}: {url} refused the token (HTTP {status}); set HF_TOKEN to one that may "
                         "read it")
    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    return DataError(f"dataset {source}: cannot read it from {url}: {type(exc).__name__}: {detail}")


@contextlib.contextmanager
def endpoint(url: str) -> Iterator[None]:
    """``datasets`` (and the client constants it formats URLs with) pointed at ``url`` for the block."""
    import datasets.config as dconfig
    from huggingface_hub import constants

    url = url.rstrip("/")
    with _LOCK:
        if dconfig.HF_ENDPOINT.rstrip("/") == url and constants.ENDPOINT == url:
            yield
            return
        saved = (dconfig.HF_ENDPOINT, dconfig.HUB_DATASETS_URL, constants.ENDPOINT,
                 constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_URL_HOSTS)
        dconfig.HF_ENDPOINT = url
        dconfig.HUB_DATASETS_URL = url + "/datasets/{repo_id}/resolve/{revision}/{path}"
        constants.ENDPOINT = url
        constants.HUGGINGFACE_CO_URL_TEMPLATE = url + "/{repo_id}/resolve/{revision}/{filename}"
        constants.HF_URL_HOSTS = frozenset(constants.HF_URL_HOSTS | {(urlsplit(url).hostname or "").lower()})
        try:
            yield
        finally:
            (dconfig.HF_ENDPOINT, dconfig.HUB_DATASETS_URL, constants.ENDPOINT,
             constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_URL_HOSTS) = saved
