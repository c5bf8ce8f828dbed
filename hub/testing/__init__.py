"""Helpers for testing plugins with real entry points.

:func:`write_plugin_dist` writes a real installed distribution (a module plus
a ``*.dist-info`` folder with ``entry_points.txt``) into a folder; put the
folder on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and the hub
discovers the plugin exactly as it discovers one installed by pip. Plugin
authors can use it in their own test suites.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_plugin_dist(
    root: Path,
    plugin_name: str,
    source: str,
    *,
    module: str | None = None,
    dist_name: str | None = None,
    version: str = "1.0.0",
) -> Path:
    """Write module ``module`` with ``source`` and a dist-info registering it as ``plugin_name``.

    Returns ``root``. ``source`` is dedented, so tests can pass indented
    triple-quoted code.
    """
    module = module or f"hubtest_{plugin_name.replace('-', '_')}"
    dist_name = dist_name or f"hubtest-{plugin_name}"
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[hub]\n{plugin_name} = {module}\n", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    return root
