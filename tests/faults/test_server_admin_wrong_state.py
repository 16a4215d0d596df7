"""The admin client's ``wrong_state`` request (docs/admin-api.md): body and argument checks."""

from __future__ import annotations

import pytest

from faults.server_admin import AdminRequest, ServerAdminError, wrong_state_request


def test_wrong_state_request_body_and_checks():
    assert wrong_state_request(0.25, 2) == AdminRequest("POST", "/admin/wrong_state", {"share": 0.25, "turns": 2})
    assert wrong_state_request().body == {"share": 1.0}
    for turns in (0, -1, 1.5, True):
        with pytest.raises(ServerAdminError, match="turns"):
            wrong_state_request(1.0, turns)  # type: ignore[arg-type]
    with pytest.raises(ServerAdminError, match="share"):
        wrong_state_request(2.0)
