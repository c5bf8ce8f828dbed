"""Registers the common heads, classification tasks and domain-adaptation methods.

Only specs live here: the torch code sits in :mod:`hub_common.heads` and
:mod:`hub_common.tasks`, named by lazy references, so listing stays fast.
"""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import AdaptationSpec, HeadSpec, TaskSpec

HUB_CONTRACT = ">=1.4,<2"  # self-training methods use AdaptationMethod.batch_loss (1.4)


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


@hookimpl
def register_adaptations(register):
    ref = "hub_common.adaptation:"
    register(AdaptationSpec(
        name="dann", factory=ref + "DANN", reference="Ganin et al. 2016 (JMLR), arXiv:1505.07818",
        description="Domain-adversarial training: a discriminator behind a gradient-reversal layer "
                    "(progressive reversal weight).",
        options={"hidden": 256, "dropout": 0.25, "gamma": 10.0, "max_coeff": 1.0}))
    register(AdaptationSpec(
        name="coral", factory=ref + "CORAL", reference="Sun & Saenko 2016, arXiv:1607.01719",
        description="Deep CORAL: match the covariance of source and target features."))
    register(AdaptationSpec(
        name="mmd", factory=ref + "MMD", reference="Long et al. 2015 (DAN), arXiv:1502.02791",
        description="Multi-kernel Gaussian MMD between source and target features.",
        options={"multipliers": [0.25, 0.5, 1.0, 2.0, 4.0]}))
    register(AdaptationSpec(
        name="adabn", factory=ref + "AdaBN", reference="Li et al. 2016, arXiv:1603.04779",
        description="Re-estimate batch-norm statistics on the target after training; no gradient step.",
        needs_trainable_backbone=False, needs_norm_layers=True))
    register(AdaptationSpec(
        name="instance-weighting", factory=ref + "InstanceWeighting",
        reference="Bickel et al. 2007; Sugiyama et al. 2007 (covariate shift)",
        description="Sample source examples by a domain classifier's density ratio p(target|x)/p(source|x).",
        needs_trainable_backbone=False, options={"c": 0.1, "clip": 10.0}))
    st = "hub_common.self_training:"
    register(AdaptationSpec(
        name="pseudo-label", factory=st + "PseudoLabel", reference="Lee 2013 (ICML workshop)",
        description="Self-training: confident target predictions (>= threshold) train as labels, ramped in.",
        options={"threshold": 0.9, "warmup": 0.3}))
    register(AdaptationSpec(
        name="mcc", factory=st + "MCC", reference="Jin et al. 2020 (ECCV), arXiv:1912.03699",
        description="Minimum class confusion: penalise target probability mass shared between classes.",
        options={"temperature": 2.5}))
    register(AdaptationSpec(
        name="fixmatch", factory=st + "FixMatch", reference="Sohn et al. 2020 (NeurIPS), arXiv:2001.07685",
        description="Consistency: a strongly augmented target view learns the weak view's confident class "
                    "(adapt.strong_augment, kornia).",
        modalities=("image",), options={"threshold": 0.95, "warmup": 0.0}))
    register(AdaptationSpec(
        name="shot", factory=st + "SHOT", reference="Liang et al. 2020 (ICML), arXiv:2002.08546",
        description="Information maximisation (confident, diverse target predictions) + centroid "
                    "pseudo-labels; trained jointly with the source, not source-free.",
        options={"beta": 0.3, "warmup": 0.3}))
