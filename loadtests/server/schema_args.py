"""Deterministic function-call arguments that satisfy a tool's ``parameters`` JSON schema.

A small generator, not a validator: it covers what tool schemas use (objects with ``properties`` and
``required``, ``type`` (also as a list), ``enum``, ``const``, strings with length bounds, integers and
numbers with bounds, booleans, arrays with ``items`` and item counts, ``anyOf``/``oneOf``/``allOf``
(first branch / merged), local ``$ref`` into ``$defs``/``definitions``). Every optional property is
filled too, so a tool sees realistic arguments. The same schema and the same ``rng`` state give the
same value.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["arguments_for"]

_WORDS = ("alpha", "beta", "cache", "delta", "error", "fizz", "queue", "retry", "socket", "token")
_MAX_DEPTH = 8


def arguments_for(schema: Any, rng: random.Random) -> dict[str, Any]:
    """An arguments object valid against ``schema`` (a non-object schema gets ``{}``).

    An object schema with no ``properties`` that allows extra keys gets ``{"path": "src/mod_N.py"}``,
    the server's traditional placeholder.
    """
    if not isinstance(schema, dict):
        schema = {}
    value = _value(schema, rng, schema, "", 0)
    if not isinstance(value, dict):
        return {}
    if not value and not schema.get("properties") and schema.get("additionalProperties", True) is not False:
        return {"path": f"src/mod_{rng.randrange(100)}.py"}
    return value


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _value(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], name: str, depth: int) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and isinstance(branches[0], dict):
            non_null = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"] or branches
            return _value(non_null[0], rng, root, name, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                part = _resolve(part, root)
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                required = [*merged.get("required", []), *part.get("required", [])]
                merged = {**merged, **part, "properties": props, "required": required}
        return _value(merged, rng, root, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if depth > _MAX_DEPTH:
        return None if kind == "null" else {} if kind == "object" else [] if kind == "array" else _scalar(
            kind, schema, rng, name
        )
    if kind == "object":
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {key: _value(sub if isinstance(sub, dict) else {}, rng, root, key, depth + 1)
                for key, sub in props.items()}
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        low = schema.get("minItems", 1) if isinstance(schema.get("minItems"), int) else 1
        high = schema.get("maxItems", max(low, 3)) if isinstance(schema.get("maxItems"), int) else max(low, 3)
        count = rng.randint(min(low, high), high)
        return [_value(items, rng, root, name, depth + 1) for _ in range(count)]
    return _scalar(kind, schema, rng, name)


def _scalar(kind: Any, schema: dict[str, Any], rng: random.Random, name: str) -> Any:
    if kind == "null":
        return None
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", max(low, 0) + 100))
        if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or high < low:
            low, high = 0, 100
        if kind == "integer":
            lo = int(low) + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
            hi = int(high) - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
            return rng.randint(lo, max(lo, hi))
        return round(rng.uniform(float(low), float(high)), 3)
    min_len = schema.get("minLength", 0) if isinstance(schema.get("minLength"), int) else 0
    max_len = schema.get("maxLength") if isinstance(schema.get("maxLength"), int) else None
    lowered = name.lower()
    if "path" in lowered or "file" in lowered:
        text = f"src/mod_{rng.randrange(100)}.py"
    elif "url" in lowered:
        text = f"https://example.com/{_WORDS[rng.randrange(len(_WORDS))]}"
    else:
        text = " ".join(_WORDS[rng.randrange(len(_WORDS))] for _ in range(rng.randint(1, 3)))
    while len(text) < min_len:
        text += "x"
    return text if max_len is None else text[: max(max_len, min_len)]
