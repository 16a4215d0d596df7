"""Delta debugging (ddmin): the smallest subset of a failing configuration that still fails.

Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing Input" (IEEE TSE 28(2), 2002),
§3.2: split the configuration into ``n`` chunks; if one chunk alone fails, go on with it (``n = 2``);
else if the configuration without one chunk fails, go on with that complement (``n - 1``); else split
finer (``2n``) until the chunks are single items. The result is 1-minimal: removing any one item
makes the failure go away. This module is pure: ``test`` is the only way it learns anything, it never
tests the same subset twice, and it keeps the items' order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["ddmin", "split"]

T = TypeVar("T")


def split(items: Sequence[T], n: int) -> list[tuple[T, ...]]:
    """``items`` in ``n`` contiguous chunks as even as can be (the first ones one longer)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(items[start:end]))
        start = end
    return out


def ddmin(items: Sequence[T], test: Callable[[tuple[T, ...]], bool], *, allow_empty: bool = False) -> tuple[T, ...]:
    """The 1-minimal failing subset of ``items`` (which are taken to fail as a whole).

    ``test(subset)`` is True when ``subset`` still fails. With ``allow_empty`` the empty subset is
    tried once the rest is 1-minimal with one item left (the failure may need none of them).
    """
    seen: dict[tuple[T, ...], bool] = {}

    def fails(subset: tuple[T, ...]) -> bool:
        if subset not in seen:
            seen[subset] = test(subset)
        return seen[subset]

    current = tuple(items)
    n = 2
    while len(current) >= 2:
        chunks = split(current, n)
        for chunk in chunks:
            if fails(chunk):
                current, n = chunk, 2
                break
        else:
            for i in range(len(chunks)):
                rest = tuple(x for j, c in enumerate(chunks) if j != i for x in c)
                if fails(rest):
                    current, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break
                n = min(len(current), 2 * n)
    if allow_empty and len(current) == 1 and fails(()):
        return ()
    return current
