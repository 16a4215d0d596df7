"""Locust entry point: ``locust -f loadtests/locustfile.py --host ws://127.0.0.1:8765``.

Works in the web UI and headless. The users are coding agents holding one WebSocket each. This file
is the one place that wires agentsoak's listeners into Locust's events (``loadtests.hooks``).
"""

from locust import events

from loadtests.hooks import AgentsoakHooks
from loadtests.users import CodingAgentUser

__all__ = ["CodingAgentUser"]

AgentsoakHooks(events)
