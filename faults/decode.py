"""Request bodies decoded the way Go's ``encoding/json`` decodes them for Toxiproxy (spec §1).

Keys match case-insensitively, unknown keys are ignored, only the first JSON value is read,
``null`` keeps the default, and type mismatches give Go's wording. Ours: integer attributes
accept integral floats such as ``100.0``. Responses are encoded as Go does (compact, HTML-safe,
float32 toxicity printed shortest).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from .errors import ApiError

__all__ = ["parse_body", "fold", "get_str", "get_bool", "get_int", "get_float32", "dumps", "go_float32",
           "bad_body", "mismatch"]

INT64_MAX = 2**63 - 1


class _Num(float):
    """A JSON number with a fraction or exponent; keeps its literal for error messages."""

    lit: str


def _parse_float(lit: str) -> _Num:
    n = _Num(lit)
    n.lit = lit
    return n


def _bad_constant(name: str) -> None:
    raise json.JSONDecodeError(f"invalid character '{name[0]}' looking for beginning of value", name, 0)


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_bad_constant)

_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
}


def bad_body(detail: str) -> ApiError:
    return ApiError(400, f"bad request body: {detail}")


def parse_body(raw: bytes) -> Any:
    """The first JSON value of ``raw``; Go's ``EOF`` / syntax messages on failure."""
    text = raw.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    if not text:
        raise bad_body("EOF")
    try:
        value, _ = _DECODER.raw_decode(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated"):
            raise bad_body("unexpected EOF") from None
        if exc.msg.startswith("invalid character"):
            raise bad_body(exc.msg) from None
        context = _CONTEXT.get(exc.msg, "looking for beginning of value")
        raise bad_body(f"invalid character {text[exc.pos]!r} {context}") from None
    except (ValueError, RecursionError) as exc:
        raise bad_body(str(exc) or "invalid JSON") from None
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def mismatch(value: Any, where: str, gotype: str, literal: bool = False) -> ApiError:
    kind = _kind(value)
    if literal and kind == "number":
        kind = f"number {getattr(value, 'lit', value)}"
    return bad_body(f"json: cannot unmarshal {kind} into Go {where} of type {gotype}")


def fold(obj: Any, fields: tuple[str, ...], gotype: str) -> dict[str, Any]:
    """Map ``obj``'s keys onto ``fields`` case-insensitively (later keys win), dropping ``null``s."""
    if obj is None:
        return {}  # Go: decoding null into a struct leaves it unchanged
    if not isinstance(obj, dict):
        raise mismatch(obj, "value", gotype)
    lower = {f.lower(): f for f in fields}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        field = key if key in fields else lower.get(key.lower())
        if field is not None:
            if value is None:
                out.pop(field, None)
            else:
                out[field] = value
    return out


def get_str(d: dict[str, Any], key: str, struct_name: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise mismatch(v, f"struct field {struct_name}.{key}", "string")
    return v


def get_bool(d: dict[str, Any], key: str, struct_name: str) -> bool | None:
    v = d.get(key)
    if v is not None and not isinstance(v, bool):
        raise mismatch(v, f"struct field {struct_name}.{key}", "bool")
    return v


def get_int(d: dict[str, Any], key: str, where: str) -> int | None:
    """An int64 attribute. Ours: ``100.0`` is accepted; ``1.5`` is refused with Go's message."""
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise mismatch(v, f"struct field {where}", "int64")
    if isinstance(v, float):
        if not v.is_integer():
            raise mismatch(v, f"struct field {where}", "int64", literal=True)
        v = int(v)
    if not -INT64_MAX - 1 <= v <= INT64_MAX:
        raise bad_body(f"json: cannot unmarshal number {v} into Go struct field {where} of type int64")
    return v


def get_float32(d: dict[str, Any], key: str, where: str) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise mismatch(v, f"struct field {where}", "float32")
    try:
        return struct.unpack("f", struct.pack("f", float(v)))[0]
    except (OverflowError, struct.error):
        raise mismatch(v, f"struct field {where}", "float32", literal=True) from None


def go_float32(x: float) -> int | float:
    """A float32 as Go prints it: integral values without a point, else the shortest digits."""
    if x == int(x) and abs(x) < 1e21:
        return int(x)
    for digits in range(1, 10):
        s = f"{x:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(s)))[0] == x:
            return float(s)
    return x


def dumps(value: Any) -> bytes:
    """Compact JSON as Go's ``json.Marshal`` writes it (HTML-escaped, UTF-8)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()
