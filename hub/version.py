"""Version constants, in a leaf module: modules deep in the hub read them without importing the
package root (whose ``hub.api`` reaches every stage, which made most of the hub one import circle)."""

from __future__ import annotations

__version__ = "0.1.0"

#: Version of the plugin contract (hook names, their arguments and the spec
#: dataclasses). A plugin declares the range it supports in ``HUB_CONTRACT``;
#: the minor part grows with backwards-compatible additions, the major part
#: with breaking changes. 1.1 added the optional ``register_augmentations`` hook,
#: 1.2 the optional ``register_adaptations`` hook (domain adaptation), 1.3 the optional
#: ``WeightSource.files`` manifest that pins a folder of weights, 1.4 the optional
#: ``AdaptationMethod.batch_loss`` point (the head's logits on both domains, a strong target view).
CONTRACT_VERSION = "1.4"
