"""Model card metadata (the YAML front matter of README.md), parsed with budgets.

YAML aliases let a few hundred bytes describe megabytes: nine levels of thirty aliases each made a
377-byte card answer 3 MiB from ``GET /api/models/{repo}``, and a self-referencing alias
(``&a [*a]``) cannot be turned into JSON at all. So the front matter is parsed with limits that
hold however it is written:

* at most :data:`MAX_FRONT_MATTER_BYTES` of YAML;
* at most :data:`MAX_DEPTH` levels of nesting (checked while composing, before PyYAML's own
  recursion could run out of stack);
* at most :data:`MAX_ALIASES` aliases, and the document *as expanded* (every alias followed) may
  weigh at most :data:`MAX_EXPANDED` (one per node plus the length of every scalar), so whatever
  the answer holds is bounded by a small multiple of what was stored;
* the result is made JSON-safe (dates as ISO strings, non-finite floats and binary as strings, sets
  as lists, keys as strings), because the card is echoed in a JSON answer.

A card over a limit is refused at commit (400 naming README.md and the limit); one already stored
(an older server, a plain ``git push``) is served without ``cardData``.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from typing import Any

import yaml

MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_EXPANDED = 256 * 1024


class CardLimitError(ValueError):
    """The card's metadata is over one of the budgets above (a ``ValueError``, like bad YAML)."""


class _BudgetLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and nesting while it composes the node graph."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise CardLimitError(f"README.md metadata uses more than {MAX_ALIASES} YAML aliases")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise CardLimitError(f"README.md metadata nests deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _weigh(root: yaml.Node) -> None:
    """Walk the graph as if every alias were expanded; stop as soon as a budget is passed."""
    weight = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CardLimitError(f"README.md metadata nests deeper than {MAX_DEPTH} levels "
                                 "once its YAML aliases are expanded")
        weight += 1
        if isinstance(node, yaml.ScalarNode):
            weight += len(node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += [(key, depth + 1), (value, depth + 1)]
        if weight > MAX_EXPANDED:
            raise CardLimitError(f"README.md metadata expands through YAML aliases to more than "
                                 f"{MAX_EXPANDED} bytes; write the values out instead of aliasing them")


def split_front_matter(content: str) -> str | None:
    """The YAML block at the top of a model card, or ``None`` when there is none.

    Raises :class:`CardLimitError` when the block is larger than :data:`MAX_FRONT_MATTER_BYTES`.
    """
    if not content.startswith("---"):
        return None
    size = 0
    lines = content.splitlines()
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            if size > MAX_FRONT_MATTER_BYTES:
                raise CardLimitError(f"README.md metadata is larger than {MAX_FRONT_MATTER_BYTES} bytes")
            return "\n".join(lines[1:i])
        size += len(lines[i].encode("utf-8", "surrogatepass")) + 1
    return None


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy (bounded: :func:`_weigh` has already limited the expanded size)."""
    if isinstance(value, dict):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=str)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    return str(_jsonable(key))


def parse_card_data(content: str) -> dict | None:
    """Card metadata as a JSON-safe dict (``None`` if absent).

    Raises ``ValueError`` for bad YAML, and :class:`CardLimitError` (a ``ValueError``) for a
    card over a budget.
    """
    block = split_front_matter(content)
    if block is None:
        return None
    loader = _BudgetLoader(block)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        _weigh(node)
        data = loader.construct_document(node)
    except CardLimitError:
        raise
    except yaml.YAMLError as exc:
        raise ValueError(f"Invalid YAML in README.md metadata: {' '.join(str(exc).split())}") from None
    except (RecursionError, TypeError, ValueError) as exc:  # odd keys, e.g. an unhashable mapping key
        raise ValueError(f"Invalid YAML in README.md metadata: {type(exc).__name__}: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ValueError("README.md metadata must be a YAML mapping")
    return _jsonable(data)


def check_card_for_commit(content: bytes) -> None:
    """Refuse (``CardLimitError``) a README.md whose metadata is over a budget; bad YAML passes.

    Malformed YAML is stored as before (and served without ``cardData``) because the Hub's own
    clients can push such cards; only what could hurt the server or its readers is refused.
    """
    try:
        parse_card_data(content.decode("utf-8", "replace"))
    except CardLimitError:
        raise
    except ValueError:
        pass
