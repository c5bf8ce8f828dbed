"""Errors of the hub server, shaped the way the huggingface_hub client reads them.

The client (``huggingface_hub.utils.hf_raise_for_status``) picks its exception class from the
status code and the ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) and shows ``X-Error-Message`` plus the JSON ``error`` field to the user, so every
error the server returns carries all three.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSON


class JSONResponse(_StarletteJSON):
    """Starlette's JSON response, rendered ASCII-only so that no string can break the encoding.

    A lone surrogate (from a ``\\ud800`` escape in a card's YAML, or a git path that is not
    UTF-8) made Starlette's UTF-8 rendering raise, which was a 500. Escaped, it is valid JSON.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("ascii")


class ServerError(Exception):
    """An error answered to the client as JSON with a status code.

    Raised anywhere below a route handler; the dispatcher turns it into a response, so storage code
    can say *what* went wrong without knowing about HTTP plumbing beyond the status.
    """

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.extra = dict(extra or {})
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The JSON response the client expects for this error."""
        headers = dict(self.headers)
        # Header values must be latin-1 and single-line; the body keeps the full text.
        headers["X-Error-Message"] = header_safe(self.message)
        if self.code:
            headers["X-Error-Code"] = self.code
        return JSONResponse({**self.extra, "error": self.message}, status_code=self.status, headers=headers)


def header_safe(text: str) -> str:
    """``text`` as one header-legal line: whitespace runs become one space, other control
    characters (NUL, ESC, DEL...) become ``\\xNN``, non-latin-1 ``?``.

    A NUL in a repo name once went into ``X-Error-Message`` verbatim; the HTTP layer refused to
    send that header and dropped the connection without any answer.
    """
    line = " ".join(text.split())
    line = "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" if ord(c) < 256 else c for c in line)
    return line.encode("latin-1", "replace").decode("latin-1")


def repo_not_found(repo_id: str) -> ServerError:
    """404 for a missing repo, and for a private one the caller may not see (never reveal it exists)."""
    return ServerError(404, f"Repository not found: {repo_id}", "RepoNotFound")


def revision_not_found(repo_id: str, revision: str) -> ServerError:
    """404 the client maps to ``RevisionNotFoundError``."""
    return ServerError(404, f"Invalid rev id: {revision} (repo {repo_id})", "RevisionNotFound")


def entry_not_found(path: str, commit: str | None = None) -> ServerError:
    """404 the client maps to ``RemoteEntryNotFoundError``; carries X-Repo-Commit like the Hub does."""
    headers = {"X-Repo-Commit": commit} if commit else {}
    return ServerError(404, f"Entry not found: {path}", "EntryNotFound", headers)


def bad_request(message: str) -> ServerError:
    """400 for malformed input (the client raises ``BadRequestError``)."""
    return ServerError(400, message)
