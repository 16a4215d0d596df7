"""A toxic installed on a proxy: the entry the API reports and every connection's link runs.

It belongs to neither the proxy nor the link: the proxy keeps the list, each link keeps a slot
per entry, and the API state renders it. Not frozen: an update changes ``toxicity`` (and the
toxic's attributes) in place, and every live slot sees the change through the shared entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from .decode import go_float32
from .errors import ApiError
from .toxics import Toxic

__all__ = ["Installed", "find_toxic"]


@dataclass
class Installed:
    """A toxic installed on a proxy: its config object plus the fields the API reports."""

    name: str
    type: str
    stream: str  # as sent, e.g. "UPSTREAM" (spec §3)
    direction: str  # "upstream" or "downstream"
    toxicity: float
    toxic: Toxic

    def to_json(self) -> dict[str, object]:
        return {"attributes": self.toxic.attributes(), "name": self.name, "type": self.type,
                "stream": self.stream, "toxicity": go_float32(self.toxicity)}


def find_toxic(toxics: list[Installed], name: str) -> Installed:
    """The toxic called ``name`` (names are unique per proxy), else 404 ``toxic not found``."""
    for entry in toxics:
        if entry.name == name:
            return entry
    raise ApiError(404, "toxic not found")
