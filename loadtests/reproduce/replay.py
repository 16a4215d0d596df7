"""One replay as its own process: ``python -m loadtests.reproduce.replay PROFILE RUN_DIR CHECK [AGENT]``.

Started by :class:`loadtests.reproduce.trials.Replayer`, up to ``--jobs`` at once. It runs PROFILE
into RUN_DIR as ``agentsoak run`` would (SIGINT/SIGTERM stop it in order), judges the report against
the signature (CHECK, naming AGENT) and writes ``RUN_DIR/replay.json``; exit 0 whenever it could
write that, 2 when it could not even read the profile.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import orjson


def main(argv: list[str]) -> int:
    from reports.repro import Judgement, Signature

    from ..profile import ProfileError, load_profile
    from ..stop_signals import StopSignals
    from .trials import replay_once

    if len(argv) not in (3, 4):
        print("usage: python -m loadtests.reproduce.replay PROFILE RUN_DIR CHECK [AGENT]", file=sys.stderr)
        return 2
    profile_path, run_dir = argv[0], Path(argv[1])
    signature = Signature(check=argv[2], agent=argv[3] if len(argv) == 4 else None)
    try:
        profile = load_profile(profile_path, allow_remote=True)
    except ProfileError as exc:
        judgement = Judgement(False, f"bad profile: {exc}", broken=f"bad profile: {exc}")
    else:
        with StopSignals() as stops:
            judgement = replay_once(profile, run_dir, signature, stops)
    (run_dir / "replay.json").write_bytes(orjson.dumps(dataclasses.asdict(judgement)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
