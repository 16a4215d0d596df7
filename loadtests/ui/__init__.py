"""``agentsoak ui PROFILE``: Locust's web UI over what the profile names, with agentsoak's tabs.

- ``cli``: the subcommand; it brings the target, proxy and route up through :func:`loadtests.run.run_profile`
  (the same path as ``agentsoak run``) and runs Locust with its web UI;
- ``session``: in each Locust process, every swarm is a run of its own (run directory, ledger,
  verification at Stop);
- ``gauges``: the Agents tab's live numbers, from the ledger events through ``reports.summary``;
- ``controls``: the Faults tab's actions, validated like a profile's fault entry and recorded as manual faults;
- ``web``: the Flask routes on Locust's own web UI app (``environment.web_ui.app``);
- ``frontend/``: the sources of Locust's ``locust-ui`` built with the Agents and Faults tabs into ``static/``.
"""
