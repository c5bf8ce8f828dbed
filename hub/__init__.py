"""The hub: a plugin-based model zoo for transfer learning with edge export.

Importing ``hub`` must stay cheap: listing plugins and components never imports
torch, so this module only exposes version constants and the top-level API
(:mod:`hub.api`), whose functions import what they need when called.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Version of the plugin contract (hook names, their arguments and the spec
#: dataclasses). A plugin declares the range it supports in ``HUB_CONTRACT``;
#: the minor part grows with backwards-compatible additions, the major part
#: with breaking changes. 1.1 added the optional ``register_augmentations`` hook,
#: 1.2 the optional ``register_adaptations`` hook (domain adaptation), 1.3 the optional
#: ``WeightSource.files`` manifest that pins a folder of weights.
CONTRACT_VERSION = "1.3"

from .api import export, load, push, recipe, run, train  # noqa: E402  (torch-free: imports happen inside)

__all__ = ["CONTRACT_VERSION", "__version__", "export", "load", "push", "recipe", "run", "train"]
