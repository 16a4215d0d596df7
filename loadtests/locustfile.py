"""Locust entry point: ``locust -f loadtests/locustfile.py --host ws://127.0.0.1:8765``.

Works in the web UI and headless. The users are coding agents holding one WebSocket each.
"""

from loadtests import hooks  # noqa: F401  (registers the Locust listeners)
from loadtests.users import CodingAgentUser

__all__ = ["CodingAgentUser"]
