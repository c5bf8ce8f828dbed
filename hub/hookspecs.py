"""The plugin contract: one hook per component kind.

A plugin is a module (or object) published under the ``hub`` entry-point group
of an installed distribution::

    [project.entry-points.hub]
    my-backbones = "my_backbones.plugin"

It declares the contract versions it supports and implements any of the hooks
below with :data:`hookimpl`::

    from hub.hookspecs import hookimpl
    from hub.specs import BackboneSpec

    HUB_CONTRACT = ">=1.0,<2"

    @hookimpl
    def register_backbones(register):
        register(BackboneSpec(name="tiny-cnn", factory="my_backbones.model:build", ...))

Rules that hold for every hook:

- Each hook is called once per process, the first time components are
  needed, with the plugin loaded on its own: if its import, a hook or a spec
  fails, that plugin is marked broken and all others keep working.
- A hook must be cheap and must not import torch or other heavy libraries:
  ``hub list`` calls it. Put heavy imports inside the factories.
- A hook must not touch the network, the file system beyond reading its own
  package, or global state; its only effect is calling ``register``.
- Names are unique per plugin and kind. If two plugins register the same name,
  users select one with the qualified name ``plugin:name``.
- Return values are ignored.

The contract version is :data:`hub.CONTRACT_VERSION`. Adding optional spec
fields or hooks bumps the minor part; anything that can break a plugin bumps
the major part.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from .specs import AdaptationSpec, AugmentationSpec, BackboneSpec, DatasetSpec, HeadSpec, TaskSpec

hookspec = pluggy.HookspecMarker("hub")
hookimpl = pluggy.HookimplMarker("hub")


@hookspec
def register_backbones(register: Callable[[BackboneSpec], None]) -> None:
    """Register pretrained feature extractors.

    Called once per process when the hub first needs components.

    :param register: call it with one :class:`hub.specs.BackboneSpec` per
        backbone. It raises :class:`hub.errors.SpecError` for an invalid spec,
        which marks the whole plugin broken (none of its components are kept),
        so a plugin never half-loads.

    The factory is called as ``factory(weights=path_or_None, **options)``:
    the hub resolves and sha256-verifies the weights first (see
    :mod:`hub.weights`) and passes the local file or folder, or ``None`` for
    random initialisation. It must return a ``torch.nn.Module`` whose ``forward`` takes the inputs named by the
    spec's input contract (``pixel_values`` NCHW for images; ``input_ids``,
    ``attention_mask`` [, ``token_type_ids``] for text) and returns pooled
    features of shape ``(batch, feature_dim)``. Parameter names must start with
    the prefixes of ``layer_groups``.
    """


@hookspec
def register_heads(register: Callable[[HeadSpec], None]) -> None:
    """Register heads that map backbone features to task outputs.

    Called once per process, like :func:`register_backbones`.

    :param register: call it with one :class:`hub.specs.HeadSpec` per head.

    The factory is called as ``factory(in_features=int, out_features=int,
    **options)`` and returns a ``torch.nn.Module`` mapping ``(batch,
    in_features)`` to ``(batch, out_features)``. Training-only behaviour
    (dropout) must switch off in ``eval()``, because export traces eval mode.
    """


@hookspec
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register tasks: what is learnt, its loss, metrics and export outputs.

    Called once per process, like :func:`register_backbones`.

    :param register: call it with one :class:`hub.specs.TaskSpec` per task.

    The factory is called as ``factory(num_classes=int, **options)`` and
    returns an object with ``loss(outputs, targets)`` and
    ``metrics(outputs, targets) -> dict[str, float]`` whose keys include the
    spec's ``metrics``.
    """


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets (labelled, and optionally unlabelled target data).

    Called once per process, like :func:`register_backbones`.

    :param register: call it with one :class:`hub.specs.DatasetSpec` per
        dataset. Registering must not read the data: the factory does that,
        and the optional ``check`` says whether the data is present.

    The factory is called as ``factory(**options)``; what it returns is
    described in docs/plugins.md (per-split examples and label names).
    """


@hookspec
def register_augmentations(register: Callable[[AugmentationSpec], None]) -> None:
    """Register training-time augmentations (contract 1.1).

    Called once per process, like :func:`register_backbones`. A recipe names
    one with ``train.augment = "NAME"`` (or a table with ``name`` and
    options); its modality must match the backbone's.

    :param register: call it with one :class:`hub.specs.AugmentationSpec` per
        augmentation.

    The factory is called as ``factory(input=contract, **options)`` (the
    backbone's :class:`~hub.specs.ImageInput` or :class:`~hub.specs.TextInput`,
    e.g. for its mean/std) and returns a callable mapping a batch's input
    tensors to augmented ones, run on the training
    device in training only. Use torch's global RNG (the trainer seeds it and
    restores it on resume), so augmented runs stay repeatable.
    """


@hookspec
def register_adaptations(register: Callable[[AdaptationSpec], None]) -> None:
    """Register domain-adaptation methods (contract 1.2).

    Called once per process, like :func:`register_backbones`. A recipe names
    one in its ``adapt`` section (``method = "NAME"`` or a table with ``name``
    and options) together with an unlabelled ``target`` dataset.

    :param register: call it with one :class:`hub.specs.AdaptationSpec` per
        method.

    The factory is called as ``factory(feature_dim=int, num_classes=int,
    **options)`` and returns a :class:`hub.adapt.AdaptationMethod` (an
    ``nn.Module``): its parameters train with the head's learning rate and are
    checkpointed for resume, but never exported. See docs/plugins.md for the
    points the trainer calls.
    """
