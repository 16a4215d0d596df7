"""The shipped profiles: list them, and turn a PROFILE argument into a file to load.

The profiles ship as package data of the ``profiles`` package and are read with
``importlib.resources``, so ``agentsoak run smoke`` works from any directory of an installed wheel.
A PROFILE argument is a path when that file exists (a path always wins), else the name of a
shipped profile (``smoke`` or ``smoke.yaml``); anything else is a ``ProfileError`` that lists the
shipped names. :func:`load_profile_arg` loads one as every command that runs a profile does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from loadtests.profile import Profile, ProfileError, load_profile

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; annotations only
    from importlib.resources.abc import Traversable

__all__ = ["ShippedProfile", "load_profile_arg", "resolve_profile", "shipped_profiles"]

_PACKAGE = "profiles"
_SUFFIX = ".yaml"


@dataclass(frozen=True)
class ShippedProfile:
    """One profile shipped with agentsoak: its name, the first line of its header comment, its file."""

    name: str
    summary: str
    path: str


def _summary(resource: Traversable, name: str) -> str:
    """The first comment line, without ``#`` and without a leading ``<name>:``."""
    for line in resource.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            return text.removeprefix(f"{name}:").strip()
        if line.strip():
            break
    return ""


def _resources() -> dict[str, Traversable]:
    return {r.name.removesuffix(_SUFFIX): r for r in files(_PACKAGE).iterdir()
            if r.is_file() and r.name.endswith(_SUFFIX)}


def shipped_profiles() -> tuple[ShippedProfile, ...]:
    """Every shipped profile, sorted by name."""
    return tuple(ShippedProfile(name, _summary(r, name), str(r)) for name, r in sorted(_resources().items()))


def resolve_profile(arg: str) -> str:
    """The file to load for a PROFILE argument: an existing path as given, else a shipped profile's file.

    Raises:
        ProfileError: ``arg`` is neither an existing file nor a shipped profile's name.
    """
    if Path(arg).is_file():
        return arg
    resources = _resources()
    resource = resources.get(arg.removesuffix(_SUFFIX))
    if resource is not None and "/" not in arg:
        return str(resource)  # a filesystem path: pip installs packages as plain files
    raise ProfileError(f"no such file, and no shipped profile of that name; shipped: {', '.join(sorted(resources))}",
                       file=arg)


def load_profile_arg(arg: str, overrides: Sequence[str] = (), *, allow_remote: bool = False) -> Profile | str:
    """Load a PROFILE argument (:func:`resolve_profile`) with ``--set`` overrides, as ``run``, ``demo``,
    ``soak``, ``ab`` and ``ui`` do: the profile, or the one-line reason it did not load, which is already
    on stderr as ``agentsoak: <reason>`` (the caller exits 2). Never a traceback.
    """
    try:
        return load_profile(resolve_profile(arg), overrides, allow_remote=allow_remote)
    except ProfileError as exc:
        reason = str(exc)
    except OSError as exc:  # e.g. a name too long for the filesystem
        reason = f"cannot read profile {arg}: {exc.strerror or exc}"
    print(f"agentsoak: {reason}", file=sys.stderr)
    return reason
