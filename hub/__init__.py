"""The hub: a plugin-based model zoo for transfer learning with edge export.

Importing ``hub`` must stay cheap: listing plugins and components never imports
torch, so this module only exposes version constants and the top-level API
(:mod:`hub.api`), whose functions import what they need when called.
"""

from __future__ import annotations

from .version import CONTRACT_VERSION, __version__
from .api import bench_zoo, export, load, pick, push, recipe, run, train  # torch-free: imports happen inside

__all__ = ["CONTRACT_VERSION", "__version__", "bench_zoo", "export", "load", "pick", "push", "recipe", "run", "train"]
