"""Browser sign-in for the web pages: a token exchanged once for an HttpOnly session cookie.

The token is posted once from the sign-in form and never stored in the browser; the cookie holds
a random session id (server memory, per process, 12 h). Forms carry a CSRF value checked in
constant time: before sign-in against a ``hub_csrf`` cookie (double submit), after it against the
session's own. Cookies are ``HttpOnly; SameSite=Strict``, so scripts cannot read them and other
sites cannot make the browser send them with a form.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "hub_session"
CSRF_COOKIE = "hub_csrf"
TTL_S = 12 * 3600


@dataclass
class Session:
    user: str
    csrf: str
    expires: float


@dataclass
class Sessions:
    items: dict[str, Session] = field(default_factory=dict)

    def open(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        self.items[sid] = Session(user, secrets.token_urlsafe(24), time.time() + TTL_S)
        return sid

    def get(self, sid: str | None) -> Session | None:
        session = self.items.get(sid or "")
        if session is None:
            return None
        if session.expires < time.time():
            self.items.pop(sid or "", None)
            return None
        return session

    def close(self, sid: str | None) -> None:
        self.items.pop(sid or "", None)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def cookie(name: str, value: str, max_age: int = TTL_S) -> str:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
