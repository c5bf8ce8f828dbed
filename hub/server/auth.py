"""Bearer-token authentication and namespace ownership for the hub server.

The server is meant for loopback and small trusted setups, so identities are a fixed table given
at start: ``token -> username``. A user owns the namespace equal to their name and the namespaces
of the organisations listed for them; ``allow_any_namespace`` lifts that rule for single-user
setups where one token should publish anywhere. Tokens are compared in constant time and are
never logged.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ServerError

logger = logging.getLogger(__name__)

TOKENS_ENV = "HUB_SERVE_TOKENS"


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
        tokens[token] = user
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
        tokens[token] = user
    return tokens


@dataclass
class Auth:
    """Who a request is, and what they may read and write."""

    tokens: Mapping[str, str]
    orgs: Mapping[str, set[str]] = field(default_factory=dict)
    allow_any_namespace: bool = False

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
        for known, name in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
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
