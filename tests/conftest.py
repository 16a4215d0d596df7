"""Suite-wide collection rule: every end-to-end test (marked ``slow``) runs in one xdist group."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group("end-to-end"))
