"""Static files of the web pages: the hub's own ``static/`` scripts and the onnxruntime-web files.

Why the server serves them itself: the repo page's "try it" widget runs the model in the reader's
browser, and a hub on a closed network has no CDN; the page's CSP also allows scripts from
``'self'`` only. URLs live under ``/-/``, a namespace no repo can have (names start with a letter
or digit), so no user or repo is shadowed.

Only an allow-list is served: the WASM-only build of onnxruntime-web (``ort.wasm.min.mjs``), the
Emscripten loader it imports and the ``.wasm`` it fetches. The vendor files come from the npm
package pinned in ``vendor/package-lock.json`` (``make setup`` runs ``npm ci``), or from the folder
``HUB_ORT_WEB_DIR`` names (the package's ``dist/``). Their URL holds the package version, so they
are cached for a year; ``try.js`` changes with the hub and is revalidated on every load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.responses import FileResponse, Response

from ..context import Ctx
from ..errors import ServerError

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR_PACKAGE = HERE / "vendor" / "node_modules" / "onnxruntime-web"
ENV_DIR = "HUB_ORT_WEB_DIR"
ORT_MODULE = "ort.wasm.min.mjs"  # the WASM execution provider only: no WebGPU/WebGL code to load
ORT_FILES = (ORT_MODULE, "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
OWN_FILES = ("try.js",)
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}
SECURITY = {"X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "same-origin"}


def _find(override: str | None) -> tuple[Path, str] | None:
    """(dist folder, version) of onnxruntime-web when every allow-listed file is there, else ``None``.

    Not cached: a few stat calls per page, and an ``npm ci`` run while the server is up takes effect.
    """
    dist = Path(override) if override else VENDOR_PACKAGE / "dist"
    if not all((dist / name).is_file() for name in ORT_FILES):
        return None
    version = "local"
    for manifest in (dist.parent / "package.json", dist / "package.json"):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("name") == "onnxruntime-web" and isinstance(data.get("version"), str):
            version = data["version"]
            break
    return dist, version


def ort() -> tuple[Path, str] | None:
    """Where the onnxruntime-web files are and their version; ``None`` when they are not installed."""
    return _find(os.environ.get(ENV_DIR) or None)


def ort_base() -> str | None:
    """The URL prefix the widget gives ``ort.env.wasm.wasmPaths`` (ends with ``/``), or ``None``."""
    found = ort()
    return f"/-/ort/{found[1]}/" if found else None


MISSING = (f"The in-browser runtime (onnxruntime-web) is not installed on this server: run `make setup` "
           f"(npm ci in hub/server/web/vendor) or point {ENV_DIR} at the package's dist folder.")


def _file(path: Path, cache: str) -> Response:
    media = TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, headers={"Cache-Control": cache, **SECURITY})


async def serve(ctx: Ctx) -> Response:
    """``/-/static/{name}`` (the hub's scripts) and ``/-/ort/{version}/{name}`` (allow-listed vendor files)."""
    args = ctx.args
    if len(args) == 2 and args[0] == "static" and args[1] in OWN_FILES:
        return _file(STATIC / args[1], "no-cache")
    if len(args) == 3 and args[0] == "ort" and args[2] in ORT_FILES:
        found = ort()
        if found is None:
            raise ServerError(404, MISSING)
        if args[1] != found[1]:  # an old page after an upgrade: the pinned files are gone
            raise ServerError(404, f"onnxruntime-web {args[1]} is not served here (this server has {found[1]}); "
                                   "reload the page")
        return _file(found[0] / args[2], "public, max-age=31536000, immutable")
    raise ServerError(404, f"Not found: {ctx.request.url.path}")
