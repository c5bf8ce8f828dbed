"""Property-based fuzzing of the parsers that read untrusted files (issue 10).

zoo.toml (random documents, random values for every recipe key, mutations of the shipped
catalogue, ``--set`` overrides) and an export's config.json (random JSON, mutations of a valid
one). The property is the same everywhere: the input is accepted, or refused with one
:class:`~hub.errors.HubError` line; never another exception, never a multi-line message.
The default run tries a few dozen inputs per property; ``-m slow`` (``make test-all``) many more.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import HubError
from hub.plugins import get_hub
from hub.recipes import SECTIONS, FieldError, build_section
from hub.runtime import read_config
from hub.zoo import ENTRY_KEYS, apply_override, load_catalogue, recipe_from_table

QUICK = settings(max_examples=40, deadline=10_000, suppress_health_check=[HealthCheck.too_slow], database=None)
LONG = settings(max_examples=2_000, deadline=10_000, suppress_health_check=[HealthCheck.too_slow], database=None)
ROOT = Path(__file__).resolve().parents[2]

# --- values and a small TOML writer (tomllib reads; nothing in the stdlib writes) ---------------

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.0, 1e-13, 10.0, 100_000, 2**63 - 1, 2**63, float("nan"), float("inf")]),
    st.text(max_size=20),
    st.sampled_from(["feature-extraction", "fine-tune", "partial", "gradual-unfreeze", "adamw", "sgd", "cosine",
                     "int8-dynamic", "fp16", "edge", "none", "val_loss", "auto", "\x1b[2J", "a\nb", ""]),
)
keys = st.one_of(st.sampled_from(sorted({f.name for c in SECTIONS.values() for f in dataclasses.fields(c)})
                                 + list(ENTRY_KEYS) + ["name", "hidden", "dropout", "image_size", "max_length"]),
                 st.text(min_size=1, max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


def toml_key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key) else toml_str(key)


def toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


entry_names = st.one_of(st.sampled_from(["digits-lite0", "x", "a-b_c"]), st.text(min_size=1, max_size=10))
components = st.one_of(st.sampled_from(["efficientnet-lite0", "tiny-cnn", "digits", "mlp", "linear",
                                        "image-classification", "vision:digits", "nope"]),
                       st.fixed_dictionaries({"name": st.sampled_from(["mlp", "linear", "tiny-cnn", "digits"])},
                                             optional={"hidden": values, "dropout": values, "image_size": values,
                                                       "pretrained": values}))


@st.composite
def documents(draw) -> str:
    """A zoo.toml: mostly well-formed entries whose keys and values are drawn at random."""
    lines = [f"schema = {toml_value(draw(st.sampled_from([1, 1, 1, 2, 'one'])))}"]
    for _ in range(draw(st.integers(0, 3))):
        name = toml_key(draw(entry_names))
        lines.append(f"[entries.{name}]")
        for key in draw(st.lists(st.sampled_from(["backbone", "dataset", "head", "task", "description", "tags"]),
                                 unique=True, max_size=6)):
            value = draw(components) if key in ("backbone", "dataset", "head", "task") else draw(values)
            lines.append(f"{key} = {toml_value(value)}")
        if draw(st.booleans()):
            lines.append(f"{toml_key(draw(keys))} = {toml_value(draw(values))}")
        for section, cls in SECTIONS.items():
            if draw(st.booleans()):
                lines.append(f"[entries.{name}.{section}]")
                fields = [f.name for f in dataclasses.fields(cls)]
                for key in draw(st.lists(st.one_of(st.sampled_from(fields), keys), unique=True, max_size=5)):
                    lines.append(f"{toml_key(key)} = {toml_value(draw(values))}")
    return "\n".join(lines) + "\n"


def one_line(exc: BaseException) -> None:
    assert isinstance(exc, HubError), f"{type(exc).__name__}: {exc}"
    assert "\n" not in str(exc) and str(exc).strip(), repr(str(exc))


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zoo.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            catalogue = load_catalogue(path)
        except Exception as exc:  # noqa: BLE001 - the property: only one-line HubErrors
            one_line(exc)
            return
        registry = get_hub().registry
        for name in catalogue.entries:
            try:
                catalogue.recipe(name, registry)
            except Exception as exc:  # noqa: BLE001
                one_line(exc)


@QUICK
@given(documents())
def test_random_zoo_documents(text):
    _load(text)


@pytest.mark.slow
@LONG
@given(documents())
def test_random_zoo_documents_long(text):
    _load(text)


SHIPPED = (ROOT / "zoo.toml").read_text(encoding="utf-8")


@st.composite
def mutations(draw) -> str:
    """The shipped catalogue with a few bytes inserted, deleted or replaced."""
    text = SHIPPED
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.text(max_size=4), st.sampled_from(["[", "]", "=", '"', "{", "}", "\n", "nan",
                                                                        "inf", "-", "[[", "99999999999999999999"])))
        end = at + draw(st.integers(0, 8)) if op != "insert" else at
        text = text[:at] + ("" if op == "delete" else piece) + text[end:]
    return text


@QUICK
@given(mutations())
def test_mutated_shipped_catalogue(text):
    _load(text)


@pytest.mark.slow
@LONG
@given(mutations())
def test_mutated_shipped_catalogue_long(text):
    _load(text)


def _section_value(section: str, key: str, value) -> None:
    cls = SECTIONS[section]
    try:
        built = build_section(cls, {key: value}, (section,))
    except FieldError as exc:
        assert exc.path[:1] == (section,) and "\n" not in str(exc)
        return
    got = getattr(built, key)
    if isinstance(got, float):
        assert math.isfinite(got)
    if isinstance(got, int):
        assert -(2**63) <= got < 2**63


FIELDS = [(section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


@QUICK
@given(st.sampled_from(FIELDS), values)
def test_random_value_for_every_recipe_key(field, value):
    _section_value(*field, value)


@pytest.mark.slow
@LONG
@given(st.sampled_from(FIELDS), values)
def test_random_value_for_every_recipe_key_long(field, value):
    _section_value(*field, value)


def _override(assignments: list[str]) -> None:
    raw = {"backbone": "efficientnet-lite0", "dataset": "digits"}
    try:
        for assignment in assignments:
            apply_override(raw, assignment)
        recipe_from_table("adhoc", raw, get_hub().registry, "command line")
    except Exception as exc:  # noqa: BLE001
        one_line(exc)


assignments = st.builds(lambda k, v, raw: f"{k}={raw if raw is not None else toml_value(v)}",
                        st.one_of(st.sampled_from([f"{s}.{k}" for s, k in FIELDS] + ["head", "head.hidden",
                                                                                    "backbone.image_size"]), keys),
                        values, st.one_of(st.none(), st.text(max_size=10)))


@QUICK
@given(st.lists(assignments, min_size=1, max_size=4))
def test_random_set_overrides(items):
    _override(items)


@pytest.mark.slow
@LONG
@given(st.lists(assignments, min_size=1, max_size=4))
def test_random_set_overrides_long(items):
    _override(items)


# --- config.json ------------------------------------------------------------------------------

json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=15)
VALID = {"format": 1, "modality": "image", "label_names": ["a", "b"], "preferred_variant": "fp32",
         "variants": {"fp32": {"file": "onnx/model.onnx"}},
         "preprocessing": {"kind": "image", "size": [8, 8], "channels": 1, "mean": [0.5], "std": [0.5]}}
PATHS = [("format",), ("modality",), ("label_names",), ("preferred_variant",), ("variants",), ("variants", "fp32"),
         ("variants", "fp32", "file"), ("preprocessing",)] + [("preprocessing", k) for k in
                                                               ("size", "channels", "mean", "std", "color_order",
                                                                "interpolation", "crop_pct", "max_length",
                                                                "input_names", "padding_side", "unknown")]


@st.composite
def configs(draw) -> str:
    if draw(st.booleans()):
        return json.dumps(draw(json_values))
    config = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        target = config
        for part in path[:-1]:
            target = target.setdefault(part, {}) if isinstance(target, dict) else {}
        if isinstance(target, dict):
            if draw(st.integers(0, 5)) == 0:
                target.pop(path[-1], None)
            else:
                target[path[-1]] = draw(json_values)
    return json.dumps(config)


def _config(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(text)
        try:
            config = read_config(Path(tmp))
        except Exception as exc:  # noqa: BLE001
            one_line(exc)
            return
        assert isinstance(config["label_names"], list) and config["label_names"]
        if config["modality"] == "image":
            from hub.runtime.preprocess import check_contract

            check_contract(config["preprocessing"])  # what predict will use is valid


@QUICK
@given(configs())
def test_random_config_json(text):
    _config(text)


@pytest.mark.slow
@LONG
@given(configs())
def test_random_config_json_long(text):
    _config(text)
