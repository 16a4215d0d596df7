"""The README.md of a repro bundle: what failed, how to replay it, the fault timeline as applied."""

from __future__ import annotations

from reports.repro.model import AppliedFault, Bundle

__all__ = ["render_readme", "TIMELINE_ROWS"]

TIMELINE_ROWS = 60  # rows of the timeline table; bundle.json has them all


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _hits(w: AppliedFault) -> str:
    shown = ", ".join(w.hit[:6]) + (" …" if len(w.hit) > 6 else "")
    total = f" ({w.hit_total} in the run)" if w.hit_total is not None else ""
    return (shown or "none of these agents") + total


def render_readme(b: Bundle, run_dir_name: str, has_profile: bool) -> str:
    c = b.check
    agents = ", ".join(f"agent {i}" for i in b.agents) or "every agent of the run"
    named = ", ".join(c.agents[:10]) + (f" … ({c.agents_total} in all)" if c.agents_total > 10 else "")
    lines = [
        f"# Repro bundle: {b.signature}",
        "",
        f"Run `{run_dir_name}` (profile `{b.profile}`, seed {b.seed}), written by agentsoak {b.agentsoak}.",
        "",
        f"- **Failed check**: `{c.name}`: observed {c.observed} {c.unit}, limit {c.limit}"
        + (f"; agents {named}" if named else ""),
        f"- **Signature** (what counts as the same failure): `{c.name}` fails"
        + (f" naming `{b.signature.agent}`" if b.signature.agent else ""),
    ]
    if b.failed_at_s is not None:
        lines.append(f"- **First seen** at +{b.failed_at_s:.2f} s after the test start ({b.failed_on})")
    lines += [
        f"- **Replay**: {agents}, the same seed, the fault timeline as applied "
        f"({b.replay.faults} fault entries, {b.replay.seconds:g} s; the run had {b.original.agents} agents)",
        "",
        "## Replay",
        "",
        "From the run directory (wherever it is now):",
        "",
        "```sh",
        b.replay_command + "            # n=3 replays; exit 0 when it reproduces (k=2 of them)",
        b.replay_command.replace("reproduce ", "reproduce --minimize ", 1) + " # then the smallest timeline",
        "```",
        "",
    ]
    if has_profile:
        lines += ["One replay by hand: `agentsoak run " + b.replay_command.split()[-1] + "/profile.yaml`.", ""]
    else:
        lines += ["**No profile.yaml**: the run directory had no readable `profile.resolved.yaml`, so this "
                  "bundle cannot be replayed.", ""]
    lines += [
        "## Fault timeline as applied",
        "",
        "Times are seconds since the test start; *hit* lists the connections of the replayed agents the "
        "window hit (client ids, `agent-NNNN/cK`: agent NNNN's K-th connection). A fault marked *(manual)* "
        "was added by hand from the web UI (`agentsoak ui`); it is not in the profile, so profile.yaml does "
        "not replay it: add it as a fault entry (`at` its applied time) to replay it too.",
        "",
        "| fault | type | planned at | applied (UTC) | applied at | removed at | share | hit | from |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w in b.timeline[:TIMELINE_ROWS]:
        err = f"; error: {w.errors[0][:60]}" if w.errors else ""
        lines.append(f"| {w.fault}{' (manual)' if w.manual else ''} | {w.type} | {w.planned_start_s:g} | {w.applied_at or '-'} | {_s(w.applied_s)} | "
                     f"{_s(w.removed_s)} | {'-' if w.share is None else f'{w.share:g}'} | {_hits(w)} | "
                     f"{w.hit_by}{err} |")
    if len(b.timeline) > TIMELINE_ROWS:
        lines.append(f"\n… {len(b.timeline) - TIMELINE_ROWS} more windows in bundle.json.")
    lines += ["", "## Files", ""]
    if has_profile:
        lines += ["- `profile.yaml`: the replay profile (`load.agents`, faults that pick connections aimed at "
                  "the agents they hit)",
                  "- `original.yaml`: the run's resolved profile"]
    lines.append("- `bundle.json`: the signature, the agents, the timeline as applied, these files")
    for f in b.files:
        cut = f" (**truncated**: the first and last {f.kept // 2} of {f.total})" if f.truncated else ""
        lines.append(f"- `{f.path}`: {f.what}, {f.kept} lines{cut}")
    return "\n".join(lines) + "\n"
