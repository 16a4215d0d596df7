"""``agentsoak reproduce``: replay a repro bundle and minimise it (docs/reproduce.md).

Module map: ``trials`` (running replays, k of n with an early stop, ``--jobs`` at once), ``replay``
(one replay as its own process), ``ddmin`` (delta debugging, pure), ``minimize`` (the steps: run
length, faults, agents, each fault's parameters), ``regression`` (the pytest file of a minimal
profile), ``cli`` (the subcommand).
"""
