"""Did a replay fail the same way? A report judged against a bundle's ``Signature``. Pure but for the
one bounded read of the replay's ledger that says when the failure happened."""

from __future__ import annotations

from dataclasses import dataclass

from reports.ledger import iter_ledger
from reports.model import Report
from reports.repro.evidence import gather
from reports.repro.model import Signature
from reports.verify import FAIL, Focus

__all__ = ["Judgement", "judge"]


@dataclass(frozen=True)
class Judgement:
    """``reproduced``: the signature's check failed naming its agent. ``broken``: the replay itself broke
    (it proves nothing either way). ``failed_at_s``: when the signature failed, since the test start."""

    reproduced: bool
    why: str
    broken: str | None = None
    failed_at_s: float | None = None
    failed_on: str | None = None


def judge(report: Report, signature: Signature) -> Judgement:
    """Whether ``report`` shows ``signature``: its check failed and, if it names an agent, names it."""
    if report.interrupted:
        return Judgement(False, f"interrupted ({report.interrupted})", broken=f"interrupted: {report.interrupted}")
    if report.broken:
        return Judgement(False, report.broken, broken=report.broken)
    check = next((c for c in report.checks if c.name == signature.check), None)
    if check is None:
        return Judgement(False, f"no check {signature.check} in the report", broken="unknown check")
    if check.verdict != FAIL:
        return Judgement(False, f"{check.name} {check.verdict}ed" if check.verdict == "pass" else
                         f"{check.name} skipped ({check.detail})")
    if signature.agent is not None and signature.agent not in check.agents:
        named = ", ".join(check.agents[:3]) or "no agent"
        return Judgement(False, f"{check.name} failed naming {named}, not {signature.agent}")
    if signature.agent is None:
        return Judgement(True, f"{check.name} failed")
    focus = next((f for f in check.focus if f.agent == signature.agent), Focus(signature.agent))
    at, on = gather(iter_ledger(report.run_dir, extra=report.extra_ledgers), [signature.agent], [focus]).failed_at(focus)
    when = f", first at +{at:.2f} s" if at is not None else ""
    return Judgement(True, f"{check.name} fails naming {signature.agent}{when}", failed_at_s=at, failed_on=on)
