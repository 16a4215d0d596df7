"""The ``target.server`` section: read, written back and documented from the server's own field table.

Nothing here names a server setting: every key, type, bound, default and help line comes from the
:class:`~loadtests.server.config.Knob` of a :class:`~loadtests.server.config.ServerConfig` field with
a ``profile`` key. A ``name.min`` / ``name.max`` pair is one ``{min, max}`` range in the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from loadtests.profile.fields import At, Section, choice, duration, integer, number, optional
from loadtests.server.config import Knob, ServerConfig, profile_knobs
from loadtests.server.errors import ConfigError

__all__ = ["SERVER_KEYS", "read_server", "server_table", "server_to_dict"]

_SECRET_HINT = "keys never go in a profile"


def _layout() -> dict[str, dict[str, str] | str]:
    """Profile key -> field name, or -> {"min": field, "max": field} for a range."""
    out: dict[str, dict[str, str] | str] = {}
    for name, knob in profile_knobs().items():
        assert knob.profile is not None
        key, _, part = knob.profile.partition(".")
        if part:
            group = out.setdefault(key, {})
            assert isinstance(group, dict)
            group[part] = name
        else:
            out[key] = name
    for key, group in out.items():
        assert isinstance(group, str) or set(group) == {"min", "max"}, f"{key}: only min/max ranges"
    return out


_LAYOUT = _layout()
#: The keys of ``target.server``, in field order.
SERVER_KEYS = tuple(_LAYOUT)


def _reader(knob: Knob) -> Callable[[Any, At], Any]:
    if knob.kind == "int":
        read = integer(_int(knob.lo), _int(knob.hi))
    elif knob.kind == "number":
        read = number(knob.lo, knob.hi, lo_open=knob.lo_open)
    elif knob.kind == "duration":
        read = duration(positive=knob.lo_open)
    elif knob.kind == "choice":
        read = choice(knob.choices)
    else:
        raise AssertionError(f"a {knob.kind} knob cannot be set from a profile")
    return optional(read) if knob.nullable else read


def _int(x: float | None) -> int | None:
    return None if x is None else int(x)


def _read_range(fields: dict[str, str], value: Any, at: At) -> tuple[int, int]:
    knobs = profile_knobs()
    sec = Section(value, at, ("min", "max"), what="a range {min, max}")
    low = sec.require("min", _reader(knobs[fields["min"]]), "min and max")
    high = sec.require("max", _reader(knobs[fields["max"]]), "min and max")
    if high < low:
        raise sec.at_key("max").error(f"max {high} is below min {low}", expected=f"an integer >= {low}")
    return low, high


def read_server(value: Any, at: At) -> ServerConfig:
    """Validate ``target.server`` into the server's own :class:`ServerConfig`."""
    hint = (f"not allowed: {_SECRET_HINT}; the reference server reads its key from its environment", None)
    sec = Section(value, at, SERVER_KEYS, forbidden={"api_key": hint})
    knobs = profile_knobs()
    values: dict[str, Any] = {}
    for key, target in _LAYOUT.items():
        if not sec.has(key):
            continue
        if isinstance(target, str):
            values[target] = sec.get(key, _reader(knobs[target]), None)
        else:
            values[target["min"]], values[target["max"]] = _read_range(target, sec.value[key], sec.at_key(key))
    try:
        return replace(ServerConfig(), **values)
    except ConfigError as exc:  # a rule across fields that no single reader sees
        raise sec.at.error(str(exc)) from None


def server_to_dict(config: ServerConfig) -> dict[str, Any]:
    """``target.server`` as plain data (loadable again): every profile key, defaults included."""
    out: dict[str, Any] = {}
    for key, target in _LAYOUT.items():
        if isinstance(target, str):
            out[key] = getattr(config, target)
        else:
            out[key] = {part: getattr(config, name) for part, name in target.items()}
    return out


# -- the docs table --------------------------------------------------------------------------------


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _type(knob: Knob) -> str:
    if knob.kind == "choice":
        return r" \| ".join(f"`{_yaml(c)}`" for c in knob.choices)
    bounds = knob.bounds() if knob.kind != "duration" else ("> 0" if knob.lo_open else ">= 0")
    bounds = bounds.replace(">=", "≥").replace("<=", "≤")
    name = {"int": "integer"}.get(knob.kind, knob.kind)
    text = f"{name} {bounds}".strip()
    return text + " or `null`" if knob.nullable else text


def _meaning(knob: Knob) -> str:
    return f"{knob.help} ({knob.unit})" if knob.unit and knob.kind != "duration" else knob.help


def server_table() -> str:
    """The ``target.server`` table of docs/profiles.md (a test keeps the two equal)."""
    knobs, defaults = profile_knobs(), server_to_dict(ServerConfig())
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, target in _LAYOUT.items():
        if isinstance(target, str):
            knob = knobs[target]
            kind, meaning = _type(knob), _meaning(knob)
        else:
            low, high = knobs[target["min"]], knobs[target["max"]]
            kind = "range, min " + _type(low).removeprefix("integer ")
            meaning = f"`min`: {low.help}, `max`: {high.help}"
        rows.append(f"| `{key}` | {kind} | `{_yaml(defaults[key])}` | {meaning} |")
    return "\n".join(rows)
