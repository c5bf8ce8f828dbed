"""The lora strategy on the real MiniLM backbone and a few dozen Rotten Tomatoes snippets.

One short run (module fixture) is shared by the checks that only read it: which parameters
trained, that the final weights are base + (alpha/r) * B @ A, that they export through the gate
with a normal parameter count, and what the model card says. Resume and bad input make their own.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hub.errors import HubError
from hub.plugins import load_hub
from hub.training.api import train
from hub.zoo import recipe_from_table

ROWS = 32


@pytest.fixture(scope="module")
def hub():
    return load_hub()


@pytest.fixture(scope="module")
def rt_csv(tmp_path_factory) -> Path:
    """The first rows of the packaged Rotten Tomatoes corpus as a tiny text-file dataset."""
    from hub_text.data import rotten_tomatoes

    data = rotten_tomatoes(None)
    path = tmp_path_factory.mktemp("data") / "rt.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for text, label in list(zip(data.texts, data.labels))[:ROWS]:
            writer.writerow([text, data.label_names[label]])
    return path


def recipe(hub, rt_csv, backbone="minilm-l6", **train_cfg):
    raw = {"backbone": {"name": backbone, "max_length": 32} if isinstance(backbone, str) else backbone,
           "dataset": {"name": "text-file", "path": str(rt_csv)},
           "train": {"strategy": "lora", "epochs": 2, "batch_size": 16, "lr": 2e-3, **train_cfg}}
    return recipe_from_table("rt-lora-test", raw, hub.registry, "test")


@pytest.fixture(scope="module")
def lora_run(hub, rt_csv, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "lora"
    train(recipe(hub, rt_csv), run_dir, hub.registry, progress=False)
    return run_dir


def _checkpoint(run_dir: Path) -> dict[str, torch.Tensor]:
    pointer = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    return load_file(run_dir / "checkpoints" / pointer["checkpoint"] / "model.safetensors")


def test_only_adapters_and_head_receive_gradients(hub, rt_csv):
    from hub.model import build_model, check_layer_groups, components
    from hub.training import lora
    from hub.training.strategies import make_strategy
    from hub.training.trainer import Trainer

    rec = recipe(hub, rt_csv)
    comps = components(rec, hub.registry)
    torch.manual_seed(0)
    model = build_model(rec, comps, 2)
    lora.attach(model, rec.train, comps.backbone_spec)
    groups = lora.split_groups(check_layer_groups(comps.backbone_spec, model.backbone))
    trainer = Trainer.__new__(Trainer)
    trainer.model, trainer.groups = model, groups
    trainer.strategy = make_strategy(rec.train, list(groups))
    assert trainer.apply_strategy(0) == ("lora",)
    ids = torch.randint(1000, 2000, (3, 12))
    logits = model(ids, torch.ones_like(ids), torch.zeros_like(ids))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0])).backward()
    got = {n for n, p in model.named_parameters() if p.grad is not None}
    expected = {n for n, p in model.named_parameters() if ".lora_" in n or n.startswith("head.")}
    assert got == expected
    assert len([n for n in got if ".lora_A." in n]) == 12  # query + value in each of the 6 layers
    assert all("attention.self.query" in n or "attention.self.value" in n for n in got if ".lora_" in n)


def test_run_trains_only_adapters_and_records_them(lora_run):
    record = json.loads((lora_run / "run.json").read_text())["backbone"]["lora"]
    assert record["rank"] == 8 and record["alpha"] == 16 and record["targets"] == ["query", "value"]
    assert len(record["layers"]) == 12 and record["adapter_params"] == 12 * 8 * (384 + 384)
    assert record["trainable_params"] == record["adapter_params"] + 384 * 2 + 2  # the linear head
    assert record["total_params"] == 22_713_216 + record["trainable_params"]
    epochs = [json.loads(line) for line in (lora_run / "metrics.jsonl").read_text().splitlines()]
    assert [e["trainable_groups"] for e in epochs] == [["lora"], ["lora"]]
    # The base weights in the last checkpoint are still the pretrained ones; the adapters moved.
    from hub_text.models.encoder import minilm_path

    pretrained = load_file(Path(minilm_path()) / "model.safetensors")
    state = _checkpoint(lora_run)
    key = "encoder.layer.0.attention.self.query.weight"
    pretrained_key = key if key in pretrained else "bert." + key
    base = state["backbone.model." + key.replace("query.weight", "query.base_layer.weight")]
    assert torch.equal(base, pretrained[pretrained_key])
    assert state["backbone.model.encoder.layer.0.attention.self.query.lora_B.default.weight"].abs().max() > 0


def test_final_weights_are_base_plus_scaled_low_rank_update(lora_run):
    # The shipped weights are the best validation epoch's (train.select = "best"), else the last checkpoint's.
    best = lora_run / "best.safetensors"
    state = load_file(best) if best.is_file() else _checkpoint(lora_run)
    merged = load_file(lora_run / "weights.safetensors")
    assert not [k for k in merged if ".lora_" in k or ".base_layer." in k]  # a plain backbone + head
    for layer in range(6):
        for proj in ("query", "value"):
            prefix = f"backbone.model.encoder.layer.{layer}.attention.self.{proj}"
            a, b = state[f"{prefix}.lora_A.default.weight"], state[f"{prefix}.lora_B.default.weight"]
            expected = state[f"{prefix}.base_layer.weight"] + (b @ a) * (16 / 8)
            torch.testing.assert_close(merged[f"{prefix}.weight"], expected, atol=1e-6, rtol=1e-5)
    key = "backbone.model.encoder.layer.0.attention.self.key.weight"
    assert torch.equal(merged[key], state[key])  # an unadapted layer is untouched


@pytest.mark.slow
def test_lora_run_exports_through_the_gate_with_a_normal_parameter_count(hub, lora_run, tmp_path):
    from hub.exporting.pipeline import GateOptions, export_run
    from hub.model import build_model, components
    from hub.publish.card import render
    from hub.training.rundir import read_run_info

    out = tmp_path / "export"
    export_run(lora_run, out, gate_options=GateOptions(max_samples=16, batch_sizes=(1, 4)), bench_iters=1)
    report = json.loads((out / "report.json").read_text())
    assert report["variants"][0]["passed"]
    info = read_run_info(lora_run)
    plain = build_model(info.recipe, components(info.recipe, hub.registry), 2)
    exported = load_file(out / "model.safetensors")
    assert sum(t.numel() for t in exported.values()) == sum(p.numel() for p in plain.parameters())
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    card = render(out, files, "zoo/rt-minilm-lora")
    trainable = info.backbone["lora"]["trainable_params"]
    assert f"LoRA r=8 on query,value ({trainable:,} trainable of {22_713_216 + trainable:,})" in card


def test_card_line_comes_from_the_run_record(lora_run, tmp_path):
    from hub.publish.card import lora_line

    backbone = json.loads((lora_run / "run.json").read_text())["backbone"]
    line = lora_line(backbone)
    assert line == "LoRA r=8 on query,value (74,498 trainable of 22,787,714)"
    assert lora_line({"name": "minilm-l6"}) == ""


def test_resume_after_epoch_one_equals_the_uninterrupted_run(hub, rt_csv, lora_run, tmp_path):
    class Interrupted(Exception):
        pass

    def stop(logs):
        raise Interrupted  # after epoch 1's checkpoint was written (the callback runs last)

    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(recipe(hub, rt_csv), run_dir, hub.registry, progress=False, on_epoch=stop)
    assert json.loads((run_dir / "checkpoints" / "last.json").read_text())["epoch"] == 1
    assert not (run_dir / "weights.safetensors").exists()
    train(recipe(hub, rt_csv), run_dir, hub.registry, resume=True, progress=False)
    a, b = load_file(run_dir / "weights.safetensors"), load_file(lora_run / "weights.safetensors")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6


def test_no_matching_target_is_one_clear_error(hub, rt_csv, tmp_path):
    with pytest.raises(HubError, match=r"train.lora_targets \['q_proj', 'v_proj'\] match no Linear/Conv/Embedding "
                                       r"layer of backbone 'minilm-l6'.*named [^;]*query, key, value, dense"):
        train(recipe(hub, rt_csv, lora_targets=["q_proj", "v_proj"]), tmp_path / "run", hub.registry, progress=False)
    assert not (tmp_path / "run").exists()


def test_a_backbone_family_without_defaults_asks_for_targets(hub, rt_csv):
    from hub.model import build_model, components
    from hub.recipes import TrainConfig
    from hub.training import lora

    raw = {"backbone": {"name": "mobilenet-v3-small", "pretrained": False}, "dataset": "digits",
           "train": {"strategy": "lora"}}
    rec = recipe_from_table("t", raw, hub.registry, "test")
    comps = components(rec, hub.registry)
    model = build_model(rec, comps, 10)
    with pytest.raises(HubError, match="has no default LoRA targets; set train.lora_targets to module-name patterns"):
        lora.attach(model, rec.train, comps.backbone_spec)
    # A glob picks layers by name; grouped (depthwise) convolutions are never adapted: peft cannot merge them.
    adapter = lora.attach(model, TrainConfig(strategy="lora", lora_targets=["*"], lora_rank=2), comps.backbone_spec)
    adapted = dict(model.backbone.named_modules())
    for name in adapter.record["layers"]:
        base = adapted[name].get_base_layer()
        assert getattr(base, "groups", 1) == 1, name
    adapter.merge()
    assert not [n for n, _ in model.named_parameters() if ".lora_" in n]


def test_lora_keys_with_another_strategy_are_refused_before_anything_is_written(hub, rt_csv, tmp_path, capsys):
    from hub.cli import main

    with pytest.raises(HubError, match=r"train.lora_rank is set but strategy is 'fine-tune'"):
        train(recipe(hub, rt_csv, strategy="fine-tune", lora_rank=4), tmp_path / "run", hub.registry, progress=False)
    assert not (tmp_path / "run").exists()
    code = main(["train", "--backbone", "minilm-l6", "--dataset", "text-file", "--set", f"dataset.path='{rt_csv}'",
                 "--strategy", "fine-tune", "--set", "train.lora_targets=['query']", "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error: ") and "lora_targets is set but strategy is 'fine-tune'" in err[-1]


@pytest.mark.slow
def test_early_stopping_restores_the_best_adapters_then_merges(hub, rt_csv, tmp_path):
    rec = recipe(hub, rt_csv, epochs=3, lr=5e-2, early_stopping={"metric": "val_loss", "patience": 1})
    result = train(rec, tmp_path / "run", hub.registry, progress=False)
    losses = [json.loads(line)["val_loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result.summary["validation"]["loss"] == pytest.approx(min(losses), rel=1e-4)
    best = load_file(tmp_path / "run" / "best.safetensors")  # adapter tensors, unmerged
    merged = load_file(tmp_path / "run" / "weights.safetensors")
    prefix = "backbone.model.encoder.layer.5.attention.self.value"
    a, b = best[f"{prefix}.lora_A.default.weight"], best[f"{prefix}.lora_B.default.weight"]
    torch.testing.assert_close(merged[f"{prefix}.weight"], best[f"{prefix}.base_layer.weight"] + 2 * (b @ a),
                               atol=1e-6, rtol=1e-5)
