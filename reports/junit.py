"""reports.junit: junit.xml for CI systems; one <testsuite> per scenario, one <testcase> per expectation.

Built with xml.etree.ElementTree, so attribute and text escaping is the library's. Characters XML 1.0
cannot carry at all (NUL, most C0 controls, lone surrogates) are replaced by U+FFFD first, since
ElementTree would write them through and produce a file no parser accepts. Without `wall` the
output has no `time` attribute and is deterministic.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from reports.model import ScenarioReport, WallClock, format_seconds, record_text, records_heading

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_SOURCE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _time(seconds: float) -> str:
    return f"{seconds:.3f}"


def render_junit(reports: Sequence[ScenarioReport], wall: Mapping[str, WallClock] | None = None) -> str:
    """junit.xml text (UTF-8 declaration included); `wall` maps scenario name -> its wall clock, for `time`.

    A failed expectation gets `<failure message="expected E, got A" type="expectation">` whose text
    names the YAML source too. Testcases carry no `time`: only the whole replay is timed, so only
    suites (and the root, their sum) do.
    """
    wall = wall or {}
    root = ET.Element("testsuites", {"name": "smsc-harness"})
    total_tests = total_failures = 0
    total_time = 0.0
    timed = False
    for report in reports:
        failures = len(report.failures)
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _x(report.name),
                "tests": str(len(report.expectations)),
                "failures": str(failures),
                "errors": "0",
                "skipped": "0",
                "file": _x(report.source),
            },
        )
        clock = wall.get(report.name)
        if clock is not None:
            suite.set("time", _time(clock.wall_seconds))
            total_time += clock.wall_seconds
            timed = True
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("seed", str(report.seed)),
            ("start", report.start),
            ("sim_duration", format_seconds(report.sim_duration)),
            ("messages", str(report.messages)),
        ):
            ET.SubElement(props, "property", {"name": key, "value": _x(value)})
        for x in report.expectations:
            case = ET.SubElement(suite, "testcase", {"classname": _x(report.name), "name": _x(x.name)})
            if (where := _SOURCE.match(x.source)) is not None:  # "path:line[:col]", as pytest's junit writes it
                case.set("file", _x(where["file"]))
                case.set("line", where["line"])
            if not x.passed:
                failure = ET.SubElement(
                    case,
                    "failure",
                    {"message": _x(f"expected {x.expected}, got {x.actual}"), "type": "expectation"},
                )
                text = f"{x.source}: {x.name}\n  step:     {x.step}\n  expected: {x.expected}\n  actual:   {x.actual}\n"
                if x.records is not None and x.records.total:
                    text += f"  {records_heading(x.records)}:\n" + "".join(
                        f"    {record_text(r)}\n" for r in x.records.first)
                failure.text = _x(text)
        total_tests += len(report.expectations)
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    if timed:
        root.set("time", _time(total_time))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
