"""Which columns of a ``datasets`` table are the examples and which the labels, and the label names.

Guessed from the features when not named: an ``Image`` column is the image input, a string column
the text input, a ``ClassLabel`` column the labels (its names become the run's label names). When
the guess is not unique, or a named column is missing or of the wrong type, the error is one line
listing every column with its type and the option to set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DataError

TEXT_NAMES = ("text", "sentence", "content", "review", "document", "prompt")
LABEL_NAMES = ("label", "labels", "class", "target", "category")
_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_STRING_DTYPES = ("string", "large_string")


@dataclass(frozen=True)
class Columns:
    """The chosen input and label columns; ``label_kind`` is "classlabel", "int" or "string"."""

    input: str
    label: str
    label_kind: str


def kind_of(feature: Any) -> str:
    """A short type name for messages and choices: Image, ClassLabel, string, int64, binary, ..."""
    name = type(feature).__name__
    if name == "Value":
        return str(feature.dtype)
    if name == "ClassLabel":
        return f"ClassLabel({feature.num_classes} names)"
    return name


def describe(features: Any) -> str:
    return ", ".join(f"{col}: {kind_of(f)}" for col, f in features.items())


def _is_image(feature: Any) -> bool:
    return type(feature).__name__ == "Image" or (type(feature).__name__ == "Value" and feature.dtype in ("binary", "large_binary"))


def _is_text(feature: Any) -> bool:
    return type(feature).__name__ == "Value" and feature.dtype in _STRING_DTYPES


def _label_kind(feature: Any) -> str | None:
    if type(feature).__name__ == "ClassLabel":
        return "classlabel"
    if type(feature).__name__ == "Value" and feature.dtype in _INT_DTYPES:
        return "int"
    if _is_text(feature):
        return "string"
    return None


def choose(name: str, features: Any, modality: str, options: dict[str, Any]) -> Columns:
    """The input and label columns for a backbone reading ``modality``; ``options`` may name them."""
    cols = describe(features)
    input_key = "image_column" if modality == "image" else "text_column"
    fits = _is_image if modality == "image" else _is_text
    wanted = "Image (or binary) column" if modality == "image" else "string column"
    article = "an" if modality == "image" else "a"

    def named(key: str) -> str | None:
        col = options.get(key)
        if col is not None and col not in features:
            raise DataError(f"dataset {name}: no column {col!r} (set by {key}); its columns: {cols}")
        return col

    label = named("label_column")
    if label is None:
        found = [c for c, f in features.items() if type(f).__name__ == "ClassLabel"]
        found = found or [c for c in LABEL_NAMES if c in features and _label_kind(features[c])]
        if len(found) != 1:
            how = "more than one could" if found else "no ClassLabel column or label/labels/class/target column"
            raise DataError(f"dataset {name}: cannot tell which column holds the labels ({how}); its columns: "
                            f"{cols}; set dataset.label_column=NAME (e.g. --set dataset.label_column=...)")
        label = found[0]
    kind = _label_kind(features[label])
    if kind is None:
        raise DataError(f"dataset {name}: label column {label!r} is {kind_of(features[label])}; labels must be a "
                        f"ClassLabel, integer or string column; its columns: {cols}; set dataset.label_column=NAME")
    column = named(input_key)
    if column is None:
        found = [c for c, f in features.items() if c != label and fits(f)]
        if modality == "text" and len(found) > 1:
            found = [c for c in TEXT_NAMES if c in found][:1] or found
        if len(found) != 1:
            how = "more than one could" if found else f"it has no {wanted}"
            raise DataError(f"dataset {name}: cannot tell which column holds the {modality} inputs for this "
                            f"{modality} backbone ({how}); its columns: {cols}; set dataset.{input_key}=NAME")
        column = found[0]
    elif not fits(features[column]):
        raise DataError(f"dataset {name}: column {column!r} is {kind_of(features[column])}, but a {modality} backbone "
                        f"needs {article} {wanted}; its columns: {cols}; set dataset.{input_key}=NAME")
    if column == label:
        raise DataError(f"dataset {name}: column {column!r} cannot be both the input and the labels; its columns: {cols}")
    return Columns(column, label, kind)


def label_names(name: str, feature: Any, kind: str, values: list[list[Any]]) -> tuple[str, ...]:
    """The label names: a ClassLabel's own; for integers "0".."max"; for strings the sorted distinct values."""
    if kind == "classlabel":
        return tuple(str(n) for n in feature.names)
    present = [v for split in values for v in split if v is not None]
    if kind == "int":
        top = max((int(v) for v in present), default=-1)
        if top < 0:
            raise DataError(f"dataset {name}: the label column holds no label >= 0")
        if top >= 100_000:
            raise DataError(f"dataset {name}: label {top} is too large for a class index (at most 99999 classes)")
        return tuple(str(i) for i in range(top + 1))
    return tuple(sorted({str(v) for v in present}))
