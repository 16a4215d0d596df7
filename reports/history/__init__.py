"""Run history and regression gates: what a nightly soak remembers across runs.

Modules, in the direction of their imports:

- ``meta``: the run metadata (version, host, target revision, start/end UTC, profile hash), kept in
  the run directory's ``meta.json``;
- ``metrics``: the table of gated metrics (name, unit, which way is worse, minimum effect) and their
  values for one report;
- ``record``: one run as the history stores it, read from a run directory's ``report.json``;
- ``store``: the history database (SQLite or PostgreSQL, one schema through SQLAlchemy Core);
- ``gate``: a run against the median and MAD of its profile's recent runs (pure);
- ``trend``: the trend table; ``cli``: ``agentsoak history`` and ``agentsoak gate``.

This ``__init__`` imports nothing, so ``reports.render_json`` can use ``metrics`` and ``meta``
without pulling in the store (which imports ``reports.report``, which imports the renderers).
"""
