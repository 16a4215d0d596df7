from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reports.builder import Scenario, build


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """make_run(**Scenario knobs) -> a fresh run directory."""
    counter = iter(range(1000))

    def _make(**knobs: object) -> Path:
        return build(tmp_path / f"run{next(counter)}", Scenario(**knobs))  # type: ignore[arg-type]

    return _make
