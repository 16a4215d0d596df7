"""``agentsoak trace RUN AGENT``: one agent's timeline, from the run's ledger.

- ``model``: ``AgentTrace`` and its items, built by ``build_trace`` from typed ledger events and the
  run's ``RunSummary`` (pure);
- ``read``: finding the agent in a run directory (``agent-0007`` or ``7``) and streaming its events;
- ``render``: the trace as terminal lines or as JSON;
- ``render_svg``: swimlanes for ``report.html`` (one agent's lane, and the run's connections lane);
- ``cli``: the ``trace`` subcommand.
"""
