"""``agentsoak reproduce BUNDLE [-n N] [-k K] [--minimize]``: replay a repro bundle, and minimise it.

Exit codes: **0** reproduced (at least ``k`` of ``n`` replays failed the same way; with
``--minimize``: a minimal profile was found and written), **1** not reproduced, **2** it could not
run (a bad bundle or profile, a replay that broke, a stop signal). Bad input is one line on stderr
naming the file and field, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reports.repro import LoadedBundle

    from ..profile import Profile
    from ..stop_signals import StopSignals
    from .trials import Trial

__all__ = ["register_cli"]


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce", help="replay a repro bundle (repro/<check>/ of a failed run); --minimize shrinks it",
        description="Replay the agents a failed check names, with the same seed and the fault timeline as "
        "applied, n times, and say 'reproduced k/n' when at least k replays fail the same check for the same "
        "agent. Replays stop as soon as the outcome is decided. --minimize then shrinks the replay (delta "
        "debugging over the fault entries and the agents, then each fault's at/duration/share and the run "
        "length) and writes minimal.yaml and a pytest file. Exit 0 reproduced, 1 not, 2 could not run.",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle directory, repro/<check>/ in a run directory")
    p.add_argument("-n", dest="n", type=int, default=3, help="replays per verdict (default 3)")
    p.add_argument("-k", dest="k", type=int, default=2, help="how many must fail the same way (default 2)")
    p.add_argument("--minimize", action="store_true",
                   help="shrink the replay to a minimal profile; writes minimal.yaml and test_minimal_*.py")
    p.add_argument("--jobs", type=int, default=None, metavar="J",
                   help="replays run at once (default 2, or 1 on a one-core machine); never more than a "
                        "verdict can still need")
    p.add_argument("--output-dir", default=None, metavar="DIR",
                   help="where the replays' run directories go (default: BUNDLE/replays/<UTC>/)")
    p.set_defaults(func=_cmd_reproduce)


def _err(message: str) -> int:
    print(f"agentsoak: error: {message}", file=sys.stderr)
    return 2


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from reports.repro import BundleError, read_bundle

    from ..profile import ProfileError, load_profile
    from ..stop_signals import StopSignals
    from .trials import JOBS

    if args.n < 1 or not 1 <= args.k <= args.n:
        return _err(f"-n {args.n} -k {args.k}: expected n >= 1 and 1 <= k <= n")
    jobs = JOBS if args.jobs is None else args.jobs
    if jobs < 1:
        return _err(f"--jobs {jobs}: expected at least 1")
    try:
        loaded = read_bundle(args.bundle)
        profile = load_profile(loaded.profile, allow_remote=True)  # the run that wrote it was vetted
    except BundleError as exc:
        return _err(str(exc))
    except ProfileError as exc:
        return _err(f"the bundle's replay profile: {exc}")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kind = "minimize" if args.minimize else "replays"
    out = Path(args.output_dir) if args.output_dir else loaded.directory / kind / stamp
    with StopSignals() as stops:
        if args.minimize:
            from .minimize import minimize_cli

            return minimize_cli(loaded, profile, out, stops, n=args.n, k=args.k, jobs=jobs)
        return _reproduce(loaded, profile, out, stops, args.n, args.k, jobs)


def _say(trial: Trial, i: int, n: int) -> None:
    j = trial.judgement
    how = "reproduced" if j.reproduced else ("could not run" if j.broken else "not reproduced")
    print(f"  replay {i}/{n}: {how}: {j.why} [{trial.seconds:.1f} s] {trial.run_dir}", flush=True)


def _reproduce(loaded: LoadedBundle, profile: Profile, out: Path, stops: StopSignals, n: int, k: int,
               jobs: int) -> int:
    from .trials import Replayer

    b = loaded.bundle
    agents = ", ".join(map(str, b.agents)) or "all"
    print(f"agentsoak: reproducing {b.signature} from {loaded.directory}: agents {agents} of {b.original.agents}, "
          f"{b.replay.faults} fault entries, {b.replay.seconds:g} s, seed {b.seed}; up to {n} replays, "
          f"{k} must fail the same way -> {out}", flush=True)
    replayer = Replayer(b.signature, out, stops, jobs=jobs)
    verdict = replayer.verdict(profile, "replay", n, k, on_trial=_say)
    if verdict.broken is not None:
        print(f"agentsoak: could not run the replay: {verdict.broken}", file=sys.stderr)
        return 2
    print(f"{verdict.summary()}: {b.signature}", flush=True)
    return 0 if verdict.reproduced else 1
