"""``agentsoak trace RUN AGENT``: one agent's timeline, from the run's ledger.

- ``model``: ``AgentTrace`` and its items, built by ``build_trace`` from typed ledger events and the
  run's ``RunSummary`` (pure);
- ``read``: finding the agent in a run directory (``agent-0007`` or ``7``) and streaming its events;
- ``render_terminal`` / ``render_json``: the trace as lines or as JSON;
- ``cli``: the ``trace`` subcommand.
"""
