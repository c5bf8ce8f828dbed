"""Short-lived Xet access tokens: who, which repo, read or write, until when — signed, not stored.

The Hub hands a client a CAS token for one repo and scope (``/api/models/{repo}/xet-write-token/
{rev}``); the client then talks to the CAS with it alone. Here the token is
``xet1.<base64url JSON>.<HMAC-SHA256>`` under a key derived from the data folder's key (``datadir.py``),
so the user's real token never travels to the CAS routes, every worker process of ``hub serve
--workers N`` accepts every other's tokens and signed xorb URLs, and they outlive a restart until
``exp`` (the client refreshes them through the same URL). Signatures are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from ..errors import ServerError

TTL_S = 3600
PREFIX = "xet1"


@dataclass(frozen=True)
class Grant:
    user: str | None
    repo: str
    scope: str  # "read" or "write"
    exp: int

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


class XetTokens:
    def __init__(self, key: bytes | None = None) -> None:
        """``key``: the folder's derived key; without one, a random key (tokens die with the process)."""
        self._key = key or secrets.token_bytes(32)

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, user: str | None, repo: str, scope: str, ttl: int = TTL_S) -> tuple[str, int]:
        exp = int(time.time()) + ttl
        body = json.dumps({"u": user, "r": repo, "s": scope, "e": exp}, separators=(",", ":"))
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{PREFIX}.{payload}.{self._mac(payload)}", exp

    def check(self, authorization: str | None, need_write: bool = False) -> Grant:
        """The grant of a ``Bearer xet1...`` header: 401 when missing, forged or expired; 403 for a read token on a write."""
        scheme, _, token = (authorization or "").partition(" ")
        parts = token.strip().split(".")
        if scheme.lower() != "bearer" or len(parts) != 3 or parts[0] != PREFIX:
            raise ServerError(401, "A Xet access token is required: get one from /api/models/{repo}/xet-read-token/{rev}")
        payload, sig = parts[1], parts[2]
        if not hmac.compare_digest(sig.encode(), self._mac(payload).encode()):
            raise ServerError(401, "Invalid Xet access token")
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            grant = Grant(data["u"], str(data["r"]), str(data["s"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            raise ServerError(401, "Invalid Xet access token") from None
        if grant.exp < time.time():
            raise ServerError(401, "Xet access token has expired; refresh it")
        if need_write and not grant.can_write:
            raise ServerError(403, "This Xet token is read-only; ask for a xet-write-token")
        return grant

    def sign_url(self, xorb: str, start: int, end: int, ttl: int = TTL_S) -> str:
        """Query string allowing a GET of bytes ``[start, end]`` (inclusive) of one xorb."""
        exp = int(time.time()) + ttl
        return f"s={start}&e={end}&exp={exp}&sig={self._mac(f'{xorb}:{start}:{end}:{exp}')}"

    def check_url(self, xorb: str, query: dict[str, str]) -> tuple[int, int]:
        try:
            start, end, exp, sig = int(query["s"]), int(query["e"]), int(query["exp"]), query["sig"]
        except (KeyError, ValueError):
            raise ServerError(403, "Xorb URL is not signed") from None
        if exp < time.time():
            raise ServerError(403, "Xorb URL has expired; ask for the reconstruction again")
        if not hmac.compare_digest(sig.encode(), self._mac(f"{xorb}:{start}:{end}:{exp}").encode()):
            raise ServerError(403, "Xorb URL signature is invalid")
        return start, end
