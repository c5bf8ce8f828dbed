"""``hub cache``: see and empty the on-disk feature cache (hub/training/feature_cache.py)."""

from __future__ import annotations

import click


@click.group("cache")
def cache() -> None:
    """The frozen-backbone feature cache: reused across runs, keyed by weights, code, input contract and data."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(as_json: bool) -> None:
    """Where the cache is, how many files and bytes it holds, and its size limit."""
    from ..training import feature_cache as fc

    files, size = fc.usage()
    data = {"folder": str(fc.cache_dir()), "files": files, "bytes": size, "max_bytes": fc.max_bytes(),
            "enabled": fc.enabled()}
    if as_json:
        from ._output import echo_json

        echo_json(data)
        return
    state = "" if data["enabled"] else " (off: HUB_FEATURE_CACHE)"
    click.echo(f"{data['folder']}: {files} files, {size / 2**20:.1f} MiB of {data['max_bytes'] / 2**30:.1f} GiB{state}")


@cache.command("clear")
def clear() -> None:
    """Delete every cached feature file (the next feature-extraction run computes them again)."""
    from ..training import feature_cache as fc

    count, size = fc.clear()
    click.echo(f"removed {count} files ({size / 2**20:.1f} MiB) from {fc.cache_dir()}")
