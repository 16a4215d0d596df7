"""The reference server: Responses API WebSocket mode with a seeded cost model and protocol faults.

Run it with ``agentsoak serve`` or ``python -m loadtests.server``. Never import locust here: the
server runs in its own process, away from gevent's monkey-patching.
"""

from __future__ import annotations

from .config import ServerConfig
from .errors import ConfigError, ServerError, TurnRejected

__all__ = ["ServerConfig", "ServerError", "ConfigError", "TurnRejected"]
