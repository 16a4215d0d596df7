"""junit.xml: one testcase per check (failures as <failure>, skipped checks as <skipped>)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reports.model import Report
from reports.tables import fmt
from reports.verify import FAIL, SKIP

__all__ = ["render_junit"]


def render_junit(report: Report) -> bytes:
    failures = sum(1 for c in report.checks if c.verdict == FAIL)
    skipped = sum(1 for c in report.checks if c.verdict == SKIP)
    suites = ET.Element("testsuites", name="agentsoak", tests=str(len(report.checks)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=f"agentsoak.{report.name}", tests=str(len(report.checks)),
                          failures=str(failures), errors="1" if report.broken else "0", skipped=str(skipped),
                          timestamp=report.generated_at)
    props = ET.SubElement(suite, "properties")
    for k, v in (("seed", report.seed), ("partial", report.partial), ("run_dir", report.run_dir),
                 ("verdict", report.verdict)):
        ET.SubElement(props, "property", name=k, value=str(v))
    for c in report.checks:
        group = c.name.split(".", 1)[0]
        case = ET.SubElement(suite, "testcase", classname=f"agentsoak.{group}", name=c.name, time="0")
        message = f"observed {fmt(c.observed)} {c.unit}, limit {fmt(c.limit)}"
        if c.verdict == FAIL:
            node = ET.SubElement(case, "failure", message=message, type="CheckFailed")
            node.text = c.detail + (f"\nagents at fault: {', '.join(c.agents)}" if c.agents else "")
        elif c.verdict == SKIP:
            ET.SubElement(case, "skipped", message=c.detail or "skipped")
        out = ET.SubElement(case, "system-out")
        out.text = f"{message}; {c.detail}"
    if report.broken:
        case = ET.SubElement(suite, "testcase", classname="agentsoak.run", name="run.completed", time="0")
        ET.SubElement(case, "error", message=report.broken, type="RunBroken")
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)
