"""``agentsoak reproduce``: replay a repro bundle (docs/reproduce.md).

Module map: ``trials`` (running replays, k of n with an early stop, ``--jobs`` at once), ``replay``
(one replay as its own process), ``cli`` (the subcommand).
"""
