"""The text plugin's specs agree with the modules they describe, through the hub's build path."""

from __future__ import annotations

import pytest
import torch

from hub.model import build_backbone, check_layer_groups
from hub.plugins import load_hub
from hub.runtime.text import TextEncoder
from hub.weights import resolve_weights


@pytest.fixture(scope="module")
def registry():
    return load_hub().registry


def test_minilm_spec_matches_module_and_tokenizes_for_it(registry):
    spec = registry.get("backbone", "minilm-l6").spec
    model = build_backbone(spec, {"pooling": "mean"}, pretrained=True).eval()
    check_layer_groups(spec, model)
    assert sum(p.numel() for p in model.parameters()) == spec.num_params
    folder, _ = resolve_weights(spec)
    encoder = TextEncoder(folder, spec.input.max_length, spec.input.input_names)
    batch = encoder.encode(["a short one", "a somewhat longer sentence than the first"])
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    assert batch["input_ids"].shape[1] < 20  # padded to the longest, not to max_length
    with torch.no_grad():
        out = model(*(torch.from_numpy(batch[n]) for n in spec.input_names))
    assert out.shape == (2, spec.feature_dim)


def test_pretrained_false_is_refused_for_text(registry):
    from hub.errors import WeightsError

    with pytest.raises(WeightsError, match="pretrained = false is not supported"):
        build_backbone(registry.get("backbone", "minilm-l6").spec, {}, pretrained=False)


def test_rotten_tomatoes_dataset_has_the_documented_split(registry):
    from hub.specs import resolve

    data = resolve(registry.get("dataset", "rotten-tomatoes").spec.factory)()
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 3892, "validation": 487, "test": 487}
    assert data.label_names == ("rotten", "fresh")
