"""Scenario profiles: YAML in ``profiles/`` -> validated, frozen ``Profile``.

This is the only reader of ``profiles/``. Text is parsed with ``yaml.safe_load`` semantics (a
``SafeLoader`` subclass that records line numbers), ``--set key.path=value`` overrides are applied
to the raw mapping, and everything is validated up front. Every problem raises ``ProfileError``
naming the file, line and key path, what was expected and, for a typo, the nearest valid key.
Durations are float seconds. ``Profile.to_dict()`` is the resolved profile, loadable again.

Caps (``caps``): a profile file is at most 1 MiB, its timeline at most 10,000 fault windows with
every ``every:`` expanded; both are checked before the work they bound.

Safety: a target or proxy URL outside 127.0.0.0/8 and ::1 (or ``localhost``) is refused unless
``allow_remote``; API keys are never read from a profile, only the *name* of the environment
variable holding one, and no error message echoes a key-like value.

Module map: ``yaml`` (YAML with line numbers, ``--set``), ``fields`` (the error type and typed
readers), ``model`` (the dataclasses), ``sections`` (target, proxy, load, agent), ``faults`` (the
timeline), ``caps`` (size caps), ``late_faults`` (warnings),
``validate_cli`` (``agentsoak validate``). Import everything from here.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from faults.schedule import FaultSpec
from loadtests.profile.caps import MAX_PROFILE_BYTES, check_fault_windows, check_profile_bytes
from loadtests.profile.faults import read_faults
from loadtests.profile.fields import At, Origin, ProfileError, Section, as_float, integer, text
from loadtests.profile.model import (
    AgentConfig,
    IntRange,
    Keepalive,
    LoadConfig,
    Profile,
    ProxyConfig,
    Reconnect,
    Recovery,
    ServerConfig,
    TargetConfig,
    ThinkTime,
)
from loadtests.profile.sections import check_source_addresses, read_agent, read_load, read_proxy, read_target
from loadtests.profile.yaml import LineMap, YamlSyntaxError, format_path, load_yaml, parse_override, set_path
from reports.thresholds import Thresholds

__all__ = [
    "CHECKS_VALIDATOR",
    "AgentConfig",
    "FaultEntry",
    "FaultSpec",
    "IntRange",
    "Keepalive",
    "LoadConfig",
    "Profile",
    "ProfileError",
    "ProxyConfig",
    "Reconnect",
    "Recovery",
    "ServerConfig",
    "TargetConfig",
    "ThinkTime",
    "load_profile",
    "parse_profile",
]

#: Validates the ``checks`` mapping; the lead points this at ``reports.verify.Thresholds.from_mapping``.
#: Any exception it raises becomes a ``ProfileError`` at ``checks``.
CHECKS_VALIDATOR: Callable[[dict], None] | None = Thresholds.from_mapping

FaultEntry = FaultSpec  # the timeline entry type lives in faults/ (faults must not import loadtests)

_PROFILE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

# -- entry points ----------------------------------------------------------------------------------


def load_profile(path: str | Path, overrides: Sequence[str] = (), *, allow_remote: bool = False) -> Profile:
    """Read and validate the profile at ``path``, with ``--set`` style ``overrides``.

    Raises:
        ProfileError: the file cannot be read, or the profile is invalid.
    """
    source = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PROFILE_BYTES + 1)  # never more: a FIFO or /dev/zero has no size
            size = max(len(data), os.fstat(fh.fileno()).st_size)
    except OSError as exc:
        raise ProfileError(f"cannot read the profile: {exc.strerror or exc}", file=source) from None
    check_profile_bytes(size, source)
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=source) from None
    return parse_profile(content, source=source, overrides=overrides, allow_remote=allow_remote)


def parse_profile(
    text: str, *, source: str = "<string>", overrides: Sequence[str] = (), allow_remote: bool = False
) -> Profile:
    """Validate profile ``text``; ``source`` names it in errors and gives the default name."""
    check_profile_bytes(len(text.encode("utf-8", "surrogatepass")), source)
    try:
        raw = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ProfileError(exc.message, file=source, line=exc.line) from None
    if raw is None:
        raw = LineMap()
        raw.line = 1
    if not isinstance(raw, dict):
        raise ProfileError(
            "a profile must be a mapping of sections", file=source, line=1, expected="keys " + ", ".join(_TOP)
        )
    origin = Origin(source, {})
    for item in overrides:
        _apply_override(raw, item, origin)
    return _read_profile(raw, At(origin, (), getattr(raw, "line", 1)), source, allow_remote)


def _apply_override(raw: dict, item: str, origin: Origin) -> None:
    label = "--set " + item.partition("=")[0].strip()
    try:
        path, value_text = parse_override(item)
    except ValueError as exc:
        raise ProfileError(str(exc), file=label) from None
    label = "--set " + format_path(path)
    try:
        value = load_yaml(value_text) if value_text.strip() else None
    except YamlSyntaxError as exc:
        raise ProfileError(exc.message, file=label, path=format_path(path)) from None
    try:
        set_path(raw, path, value)
    except ValueError as exc:
        raise ProfileError(f"cannot set: {exc}", file=label, path=format_path(path)) from None
    origin.overrides[path] = label


_TOP = ("name", "seed", "output_dir", "target", "proxy", "load", "agent", "faults", "checks")


#: The layout settings that may be ``auto`` (chosen by ``loadtests.layout`` for the machine).
AUTO_PATHS = (("load", "processes"), ("load", "source_addresses"), ("proxy", "workers"),
              ("target", "server", "workers"))


def _take_autos(raw: dict) -> frozenset[str]:
    """Remove every ``auto`` layout setting from ``raw`` (the readers then see the default) and
    return their dotted paths."""
    found = set()
    for path in AUTO_PATHS:
        node: Any = raw
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]) == "auto":
            del node[path[-1]]
            found.add(".".join(path))
    return frozenset(found)


def _read_profile(raw: dict, at: At, source: str, allow_remote: bool) -> Profile:
    auto = _take_autos(raw)
    sec = Section(raw, at, _TOP)
    stem = Path(source).stem if not source.startswith("<") else "profile"
    default_name = stem if re.fullmatch(_PROFILE_NAME, stem) else "profile"
    name = sec.get(
        "name", text(_PROFILE_NAME, "a name of letters, digits, '.', '_', '-' (at most 64)"), default_name
    )
    seed = sec.get("seed", integer(0, 2**63 - 1), 42)
    output_dir = sec.get("output_dir", text(r"[^\x00-\x1f]{1,4096}", "a directory path"), "runs")
    target = read_target(sec.value.get("target"), sec.at_key("target"), allow_remote)
    proxy = read_proxy(sec.value.get("proxy"), sec.at_key("proxy"), allow_remote)
    load = read_load(sec.value.get("load"), sec.at_key("load"))
    check_source_addresses(load, target, proxy, sec.value.get("load"), sec.at_key("load"))
    agent = read_agent(sec.value.get("agent"), sec.at_key("agent"))
    check_fault_windows(sec.value.get("faults"), sec.at_key("faults"), load.duration_s)  # before expanding
    faults = read_faults(
        sec.value.get("faults"),
        sec.at_key("faults"),
        duration_s=load.duration_s,
        proxy_kind=proxy.kind,
        target_kind=target.kind,
    )
    checks = _read_checks(sec.value.get("checks"), sec.at_key("checks"))
    if "target.server.workers" in auto and target.kind != "embedded":
        raise sec.at_key("target").error("server.workers: auto is only for target.kind embedded")
    return Profile(name, seed, output_dir, target, proxy, load, agent, faults, checks, auto)


def _read_checks(value: Any, at: At) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise at.error(
            f"got {type(value).__name__}", expected="a mapping of check name to number or true/false"
        )
    checks: dict[str, Any] = {}
    for key, item in value.items():
        item_at = at.child(key, value)
        if not isinstance(key, str) or not key:
            raise item_at.error("check names must be non-empty strings")
        ok = item is None or isinstance(item, bool) or (
            isinstance(item, (int, float)) and math.isfinite(as_float(item)))
        if not ok:
            raise item_at.error(f"got {type(item).__name__}",
                                expected="a finite number, true/false, or null (turns the check off)")
        checks[key] = item
    validator = CHECKS_VALIDATOR
    if validator is not None:
        try:
            validator(dict(checks))
        except Exception as exc:  # the validator is pluggable: any failure is a profile error
            key = getattr(exc, "key", None)
            where = at.child(key, value) if key in checks else at
            message = str(exc) or type(exc).__name__
            for prefix in ("checks: ", f"checks.{key}: ", f"{key}: "):
                message = message.removeprefix(prefix)
            raise where.error(message) from None
    return checks
