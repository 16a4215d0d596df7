"""YAML reading for profiles: ``safe_load`` semantics plus line numbers, and ``--set`` overrides.

``_LineLoader`` is a ``yaml.SafeLoader`` (no arbitrary tags, no object construction) whose mappings
and sequences are ``LineMap``/``LineList``: plain ``dict``/``list`` subclasses that also remember
the line of each key or item, so errors can point at the source line. Duplicate keys are an error
(PyYAML silently keeps the last one, which hides a second ``faults:`` section).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["LineList", "LineMap", "PathKey", "format_path", "load_yaml", "parse_override", "set_path"]

PathKey = str | int


class LineMap(dict):
    """A mapping that remembers its own line and each key's line (1-based)."""

    line: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}


class LineList(list):
    """A sequence that remembers its own line and each item's line (1-based)."""

    line: int | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: dict[int, int] = {}


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> LineMap:
    has_merge = any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value)
    loader.flatten_mapping(node)
    result = LineMap()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            ) from None
        if key in result and not has_merge:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList()
    result.line = node.start_mark.line + 1
    for i, child in enumerate(node.value):
        result.append(loader.construct_object(child, deep=True))
        result.lines[i] = child.start_mark.line + 1
    return result


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


class YamlSyntaxError(Exception):
    """The text is not valid YAML; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def load_yaml(text: str) -> Any:
    """Parse one YAML document with safe-load semantics and line tracking.

    Raises:
        YamlSyntaxError: for any YAML error (including unsafe tags and recursive aliases).
    """
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlSyntaxError(f"invalid YAML: {problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", None) from None
    except RecursionError:
        raise YamlSyntaxError("invalid YAML: nested too deeply", None) from None


def format_path(path: tuple[PathKey, ...]) -> str:
    """``("faults", 2, "attributes", "latency")`` -> ``faults[2].attributes.latency``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)")


def parse_override(item: str) -> tuple[tuple[PathKey, ...], str]:
    """Split ``a.b[0].c=value`` into its path and the raw value text.

    Raises:
        ValueError: with a message saying what a valid override looks like.
    """
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError("expected KEY.PATH=VALUE, e.g. --set load.users=50")
    path: list[PathKey] = []
    for segment in key.split("."):
        m = _SEGMENT.fullmatch(segment)
        if m is None:
            raise ValueError(f"bad key path {key!r}; expected names joined by '.', e.g. faults[0].at")
        path.append(m.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return tuple(path), value


def set_path(root: dict, path: tuple[PathKey, ...], value: Any) -> None:
    """Set ``value`` at ``path`` in the raw profile, creating missing mappings.

    Raises:
        ValueError: when the path crosses a value that is not a mapping or list, or an index is
            out of range.
    """
    node: Any = root
    for depth, part in enumerate(path[:-1]):
        nxt = path[depth + 1]
        where = format_path(path[: depth + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                raise ValueError(f"{where}: no such list item")
            if not isinstance(node[part], (dict, list)):
                raise ValueError(f"{where} is not a mapping or list")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{format_path(path[:depth])} is not a mapping")
        if part not in node or node[part] is None:
            if isinstance(nxt, int):
                raise ValueError(f"{where}: no such list")
            node[part] = LineMap()
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise ValueError(f"{where} is not a mapping")
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or not 0 <= last < len(node):
            raise ValueError(f"{format_path(path)}: no such list item")
    elif not isinstance(node, dict):
        raise ValueError(f"{format_path(path[:-1])} is not a mapping")
    node[last] = value
