"""Registers the common heads and classification tasks.

Only specs live here: the torch code sits in :mod:`hub_common.heads` and
:mod:`hub_common.tasks`, named by lazy references, so listing stays fast.
"""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import HeadSpec, TaskSpec

HUB_CONTRACT = ">=1.0,<2"


@hookimpl
def register_heads(register):
    register(HeadSpec(
        name="linear",
        factory="hub_common.heads:linear",
        description="One linear layer on the pooled features (linear probe), with optional input dropout.",
        options={"dropout": 0.0},
    ))
    register(HeadSpec(
        name="mlp",
        factory="hub_common.heads:mlp",
        description="Multi-layer perceptron: hidden layers with activation, normalisation and dropout.",
        options={"hidden": [256], "dropout": 0.2, "activation": "gelu", "norm": "layernorm"},
    ))


@hookimpl
def register_tasks(register):
    common = dict(
        loss="cross-entropy",
        metrics=("accuracy", "macro_f1"),
        primary_metric="accuracy",
        options={"label_smoothing": 0.0, "class_weights": None},
    )
    register(TaskSpec(
        name="image-classification",
        factory="hub_common.tasks:Classification",
        modalities=("image",),
        pipeline_tag="image-classification",
        description="Single-label image classification: softmax over classes, accuracy and macro-F1.",
        **common,
    ))
    register(TaskSpec(
        name="text-classification",
        factory="hub_common.tasks:Classification",
        modalities=("text",),
        pipeline_tag="text-classification",
        description="Single-label text classification: softmax over classes, accuracy and macro-F1.",
        **common,
    ))
