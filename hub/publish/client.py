"""Where to publish, with which token, and how to talk to it robustly.

Target resolution (:func:`resolve_target`): an explicit endpoint, else ``HF_ENDPOINT``; the token
is the argument, else ``HF_TOKEN`` / the ``hf auth login`` token. With neither an endpoint nor a
token there is nowhere sensible to publish, so the hub uses its embedded local server (see
:mod:`hub.publish.embedded`) instead of failing or silently trying huggingface.co anonymously.

Tokens live only in :class:`Target` (hidden from ``repr``) and in the client's request headers;
nothing here logs or formats them into messages.

Xet: huggingface_hub uses the Xet protocol whenever ``hf_xet`` is installed, but only
huggingface.co speaks it; for any other endpoint (``hub serve``, mirrors) the classic LFS path is
forced for the duration of the call (such calls are serialised within a process, as the
switch is a module-level setting of the client).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .files import PublishError

logger = logging.getLogger(__name__)

T = TypeVar("T")
RETRIES = 4  # extra attempts of a whole step after the client's own per-request retries
BACKOFF_S = 1.0  # first wait; doubles each attempt
RETRY_STATUS = (408, 429, 500, 502, 503, 504)
HF_HOSTS = ("huggingface.co", "hf.co")


@dataclass(frozen=True)
class Target:
    """A hub endpoint plus credentials. ``embedded`` marks the local default server."""

    endpoint: str
    token: str | None = field(default=None, repr=False)
    embedded: bool = False

    def api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token if self.token else False,
                     library_name="zoohub")


def resolve_target(endpoint: str | None = None, token: str | None = None, *, start: bool = True) -> Target:
    """The endpoint and token to use; the embedded local server when neither is configured."""
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    if token is None:
        token = os.environ.get("HF_TOKEN") or None
    if token is None and (endpoint is None or is_hf(endpoint)):
        from huggingface_hub import get_token

        token = get_token()  # the saved `hf auth login` token is for huggingface.co only, never another host
    if endpoint is None and not token:
        from .embedded import ensure_server

        url, local_token = ensure_server(start=start)
        return Target(url, local_token, embedded=True)
    from huggingface_hub import constants

    return Target((endpoint or constants.ENDPOINT).rstrip("/"), token or None)


def is_hf(endpoint: str) -> bool:
    host = (urlsplit(endpoint).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in HF_HOSTS)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes: the client wraps upload failures in a bare ``RuntimeError``."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def status_of(exc: BaseException) -> int | None:
    for e in _chain(exc):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status is not None:
            return status
    return None


def _transport_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            found.append(__import__(module).TransportError)
    return tuple(found)


def is_retryable(exc: BaseException) -> bool:
    """5xx/429/408 answers and dropped or refused connections are worth another try."""
    if any(isinstance(e, _transport_errors()) for e in _chain(exc)):
        return True
    return status_of(exc) in RETRY_STATUS


def translate(exc: BaseException, target: Target, what: str) -> PublishError:
    """A client exception as a :class:`PublishError` saying what failed, where, and what to do."""
    from huggingface_hub import errors as hf

    where = target.endpoint
    if isinstance(exc, PublishError):
        return exc
    if isinstance(exc, hf.RevisionNotFoundError):
        return PublishError(f"{what}: revision not found at {where}; check the branch, tag or commit")
    if isinstance(exc, hf.EntryNotFoundError):
        return PublishError(f"{what}: file not found at {where}")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return PublishError(f"{what}: repository not found at {where} (or it is private and the token "
                            "may not read it); check the repo id and HF_TOKEN")
    status = status_of(exc)
    if status == 401:
        hint = ("the local token file is stale; delete it and retry" if target.embedded
                else "set HF_TOKEN or run `hf auth login`")
        return PublishError(f"{what}: authentication refused by {where}; {hint}")
    if status == 403:
        return PublishError(f"{what}: the token may not write there ({where}); use a namespace you own")
    if any(isinstance(e, _transport_errors()) for e in _chain(exc)):
        return PublishError(f"{what}: the connection to {where} failed ({type(exc).__name__}); check the endpoint "
                            "and the network, then retry (a push that failed leaves the repo unchanged)")
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    code = f"HTTP {status}: " if status else ""
    return PublishError(f"{what}: failed at {where}: {code}{detail}")


def with_retries(step: Callable[[], T], *, target: Target, what: str,
                 recovered: Callable[[], T | None] | None = None) -> T:
    """Run ``step`` with exponential backoff on transient failures.

    ``recovered()`` runs after every failure and may return a result proving the step already
    took effect (the server applied a commit but the answer was lost); then no retry is made,
    which is what keeps a retried commit from being applied twice.
    """
    for attempt in range(RETRIES + 1):
        try:
            return step()
        except Exception as exc:
            if recovered is not None:
                try:
                    done = recovered()
                except PublishError:
                    raise
                except Exception:  # cannot tell yet (server still down): decide on exc alone
                    done = None
                if done is not None:
                    logger.info("%s: the server had applied it before failing (%s)", what, type(exc).__name__)
                    return done
            if attempt == RETRIES or not is_retryable(exc):
                raise translate(exc, target, what) from exc
            wait = BACKOFF_S * (2 ** attempt)
            logger.warning("%s: %s (%s); retrying in %.1fs (%d/%d)", what, type(exc).__name__,
                           status_of(exc) or "no answer", wait, attempt + 1, RETRIES)
            time.sleep(wait)
    raise AssertionError("unreachable")
