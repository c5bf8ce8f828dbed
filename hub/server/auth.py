"""Bearer-token authentication and namespace ownership for the hub server.

The server is meant for loopback and small trusted setups, so identities are a fixed table given
at start: ``token -> username``. A user owns the namespace equal to their name and the namespaces
of the organisations listed for them; ``allow_any_namespace`` lifts that rule for single-user
setups where one token should publish anywhere. Tokens are compared in constant time and are
never logged.

An entry may be the token itself or ``sha256:<64 hex digits>``, the sha256 of the token (see
:func:`hash_token`, ``hub serve hash-token``): a server whose token file leaks then leaks no
credential, since a token is a long random secret and its hash cannot be turned back into it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ServerError

logger = logging.getLogger(__name__)

TOKENS_ENV = "HUB_SERVE_TOKENS"
HASH_PREFIX = "sha256:"
_HASHED_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def hash_token(token: str) -> str:
    """The ``sha256:<hex>`` entry that stands for ``token`` in a token file."""
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits), in the ``hub_...`` form the docs use."""
    return "hub_" + secrets.token_urlsafe(32)


def _check_entry(token: str, where: str) -> str:
    """An entry starting with ``sha256:`` must be a well-formed hash (a typo would lock its user out)."""
    if token.lower().startswith(HASH_PREFIX) and not _HASHED_RE.match(token):
        raise ValueError(f"{where}: '{token[:12]}...' looks like a hashed token but is not "
                         "'sha256:' + 64 lowercase hex digits; make one with `hub serve hash-token`")
    return token


def parse_token_file(path: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Read ``token username [org ...]`` lines; ``#`` starts a comment.

    Returns the token table and, per organisation, the set of its members. A token file is used
    instead of command-line arguments so tokens never show up in ``ps`` output.
    """
    tokens: dict[str, str] = {}
    orgs: dict[str, set[str]] = {}
    for lineno, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{path}:{lineno}: expected 'token username [org ...]'")
        token, user, *user_orgs = parts
        tokens[_check_entry(token, f"{path}:{lineno}")] = user
        for org in user_orgs:
            orgs.setdefault(org, set()).add(user)
    return tokens, orgs


def parse_token_env(value: str | None = None) -> dict[str, str]:
    """Parse ``HUB_SERVE_TOKENS="tok1:user1,tok2:user2"`` (the environment's value by default)."""
    value = os.environ.get(TOKENS_ENV, "") if value is None else value
    tokens: dict[str, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        token, sep, user = item.rpartition(":")
        if not sep or not token or not user:
            raise ValueError(f"{TOKENS_ENV}: expected 'token:username' items separated by commas")
        tokens[_check_entry(token, TOKENS_ENV)] = user
    return tokens


@dataclass
class Auth:
    """Who a request is, and what they may read and write."""

    tokens: Mapping[str, str]  # token or "sha256:<hex>" -> username
    orgs: Mapping[str, set[str]] = field(default_factory=dict)
    allow_any_namespace: bool = False

    def __post_init__(self) -> None:
        # (bytes to compare against, compare against the hash?, user); every entry is compared on
        # every request, so the time taken says nothing about which entry (if any) matched.
        self._entries = [(known.encode(), bool(_HASHED_RE.match(known)), name) for known, name in self.tokens.items()]

    def user_for(self, authorization: str | None) -> str | None:
        """The username for an ``Authorization`` header; ``None`` when there is no header.

        A header with an unknown token is refused with 401 even on public reads, like the Hub,
        so a typo in a token shows up at once instead of as a confusing 404 later.
        """
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ServerError(401, "Invalid credentials in Authorization header")
        user = None
        plain = token.encode("utf-8", "surrogateescape")
        hashed = hash_token(token).encode() if any(h for _, h, _ in self._entries) else b""
        for known, is_hash, name in self._entries:
            if hmac.compare_digest(known, hashed if is_hash else plain):
                user = name
        if user is None:
            raise ServerError(401, "Invalid credentials in Authorization header")
        return user

    def owns(self, user: str | None, namespace: str) -> bool:
        """Whether ``user`` may write to (and read private repos in) ``namespace``."""
        if user is None:
            return False
        if self.allow_any_namespace or user == namespace:
            return True
        return user in self.orgs.get(namespace, set())

    def orgs_of(self, user: str) -> list[str]:
        """Organisations ``user`` belongs to (for whoami)."""
        return sorted(org for org, members in self.orgs.items() if user in members)

    def require_write(self, user: str | None, namespace: str) -> str:
        """Refuse a write: 401 without a token, 403 outside the user's namespaces."""
        if user is None:
            raise ServerError(401, "Authentication required: pass a token (Authorization: Bearer <token>)")
        if not self.owns(user, namespace):
            raise ServerError(403, f"You don't have the rights to write to namespace '{namespace}'")
        return user
