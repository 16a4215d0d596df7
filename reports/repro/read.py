"""Reading a repro bundle back (``agentsoak reproduce BUNDLE``), with errors that name file and field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import msgspec

from reports.errors import BundleError
from reports.repro.model import FORMAT, Bundle

__all__ = ["BundleError", "LoadedBundle", "read_bundle"]

MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # bundle.json is bounded by its writer; anything larger is not one


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle read from ``directory``: its manifest and its replay profile's path."""

    directory: Path
    bundle: Bundle
    profile: Path


_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.S)


def _field_error(path: Path, exc: msgspec.ValidationError) -> BundleError:
    """``Expected `str`, got `int` - at `$.signature.check``` -> ``bundle.json: signature.check: ...``."""
    text, where = _AT.match(str(exc)).groups()  # type: ignore[union-attr]
    missing = re.match(r"Object missing required field `(\w+)`", text)
    if missing:
        field = ((where or "").lstrip(".") + "." + missing.group(1)).lstrip(".")
        return BundleError(f"{path}: {field}: missing (a required field)")
    field = (where or "").lstrip(".") or "(the whole file)"
    text = text.replace("`", "")
    return BundleError(f"{path}: {field}: {text[:1].lower()}{text[1:]}")


def read_bundle(path: str | Path) -> LoadedBundle:
    """Read the bundle at ``path`` (its directory, or its ``bundle.json``).

    Raises:
        BundleError: naming the file (and the field) that is missing or wrong.
    """
    p = Path(path)
    directory = p.parent if p.name == "bundle.json" else p
    if not directory.is_dir():
        raise BundleError(f"{directory}: no such bundle directory (bundles are repro/<check>/ in a run directory)")
    manifest = directory / "bundle.json"
    try:
        size = manifest.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{manifest}: {size} bytes is too large for a bundle manifest")
        raw = manifest.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{manifest}: missing: not a repro bundle (agentsoak writes repro/<check>/ "
                          "for every failed check of a report)") from None
    except OSError as exc:
        raise BundleError(f"{manifest}: cannot read: {exc.strerror or exc}") from None
    try:
        head = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BundleError(f"{manifest}: not valid JSON ({exc})") from None
    if not isinstance(head, dict):
        raise BundleError(f"{manifest}: expected a JSON object, got {type(head).__name__}")
    fmt = head.get("format")
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
        raise BundleError(f"{manifest}: format: {fmt} is newer than this agentsoak reads ({FORMAT}); "
                          "use the agentsoak that wrote it (bundle field 'agentsoak')")
    try:
        bundle = msgspec.convert(head, Bundle)
    except msgspec.ValidationError as exc:
        raise _field_error(manifest, exc) from None
    profile = directory / "profile.yaml"
    if not profile.is_file():
        raise BundleError(f"{profile}: missing: the bundle has no replay profile (its run had no readable "
                          "profile.resolved.yaml)")
    if bundle.signature.check != bundle.check.name:
        raise BundleError(f"{manifest}: signature.check: {bundle.signature.check!r} is not the failed check "
                          f"{bundle.check.name!r}")
    return LoadedBundle(directory=directory, bundle=bundle, profile=profile)
