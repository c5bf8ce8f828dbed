"""Browser sign-in for the web pages: a token exchanged once for an HttpOnly session cookie.

The token is posted once from the sign-in form and never stored in the browser; the cookie holds
a random session id (12 h). Sessions live in ``DATA/sessions.sqlite`` (WAL, shared by every worker
process of ``hub serve --workers N``, kept across restarts), keyed by the sha256 of the id, so the
file alone signs nobody in; signing out deletes the row, which every worker sees at once. Forms
carry a CSRF value checked in constant time: before sign-in against a ``hub_csrf`` cookie (double
submit), after it against the session's own. Cookies are ``HttpOnly; SameSite=Strict``, so scripts
cannot read them and other sites cannot make the browser send them with a form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "hub_session"
CSRF_COOKIE = "hub_csrf"
TTL_S = 12 * 3600
BUSY_TIMEOUT_S = 30.0
SCHEMA = "CREATE TABLE IF NOT EXISTS session (id TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, " \
         "expires REAL NOT NULL)"


@dataclass
class Session:
    user: str
    csrf: str
    expires: float


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class Sessions:
    """Open sessions in sqlite: ``path`` (a file shared by processes) or, without one, in memory."""

    def __init__(self, path: Path | None = None):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", timeout=BUSY_TIMEOUT_S,
                                   check_same_thread=False, isolation_level=None)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def open(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM session WHERE expires < ?", (now,))
            self._db.execute("INSERT INTO session VALUES (?, ?, ?, ?)",
                             (_key(sid), user, secrets.token_urlsafe(24), now + TTL_S))
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 200:
            return None
        with self._lock:
            row = self._db.execute("SELECT user, csrf, expires FROM session WHERE id = ?", (_key(sid),)).fetchone()
        if row is None or row[2] < time.time():
            return None
        return Session(*row)

    def close(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._db.execute("DELETE FROM session WHERE id = ?", (_key(sid),))

    def close_db(self) -> None:
        with self._lock:
            self._db.close()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def cookie(name: str, value: str, max_age: int = TTL_S) -> str:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
