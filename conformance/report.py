"""Report writing: a run's results dict to results.json, index.html and junit.xml.

The runner collects the results (schema 1, docs/results.schema.json) and calls
``write_reports``. All three files are rendered in memory first, so a failure while
rendering leaves the previous report untouched; then each file replaces its predecessor
atomically, so none is ever half-written.
Beyond the contract's keys every field is optional here: a missing one renders as a dash.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import secrets
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from lstm_conformance.hints import top_hint
from lstm_conformance.pictures import heat_maps, permutation, ratio_plot
from lstm_conformance.results import root_causes

#: Statuses that make an implementation non-conformant; they get a details section.
FAILING = ("failed", "error")

#: JUnit's element for each status that is not a pass.
JUNIT_TAGS = {"failed": "failure", "error": "error", "not_applicable": "skipped"}

#: Characters XML 1.0 cannot hold (ANSI escapes from tracebacks, NUL...).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ReportError(Exception):
    """The report directory cannot be created or written."""


def write_reports(report_dir: Path, results: dict) -> None:
    """Write results.json, index.html and junit.xml into ``report_dir``, creating it if needed.

    Non-finite floats become the strings "nan", "inf" and "-inf". Raises ReportError when the
    directory cannot be created or written; any other exception comes from rendering, and then
    the previous report is left as it was.
    """
    results = json_safe(results)
    files = {
        "results.json": json.dumps(results, indent=2, sort_keys=False, allow_nan=False) + "\n",
        "index.html": render_html(results),
        "junit.xml": junit_xml(results),
    }
    report_dir = Path(report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            _replace(report_dir / name, text)
    except OSError as exc:
        raise ReportError(
            f"cannot write the conformance report to {report_dir}: {exc.strerror or exc}. "
            "Choose a writable directory with --lstm-report-dir DIR."
        ) from exc


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its name ("nan", "inf", "-inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path``, then move it over ``path``."""
    temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "x", encoding="utf-8") as file:  # umask's mode, not mkstemp's 0600
            file.write(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# --- HTML -----------------------------------------------------------------------------------


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("lstm_conformance", "templates"),
        autoescape=select_autoescape(("html", "html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=_format_duration, seconds=_format_seconds, value=_format_value,
                       ratio=format_ratio, id=id)
    return env


def render_html(results: dict) -> str:
    """The self-contained HTML report (inline CSS and JS, nothing from the network)."""
    return _environment().get_template("index.html.j2").render(**_html_view(results))


def _html_view(results: dict) -> dict:
    """What the template shows, computed once here so the template only lays it out."""
    catalogue = {inv["id"]: inv for inv in results["invariants"]}
    columns = list(catalogue)
    for impl in results["implementations"].values():
        columns += [inv_id for inv_id in impl["results"] if inv_id not in columns]

    rows, failure_count, failing_columns = [], 0, set()
    for name, impl in results["implementations"].items():
        outcomes = impl["results"]
        # Known failures get their details too: the reason, and what fails now.
        failing = {i for i, o in outcomes.items() if o["status"] in FAILING + ("known_failure",)}
        anchors = {}
        for inv_id in columns:
            if inv_id in failing:
                failure_count += 1
                anchors[inv_id] = f"failure-{failure_count}"
        failing_columns |= failing
        # What was not checked, and why: whole checks, and refused cases within checks.
        not_applicable = [
            {"invariant": i, "examples": o.get("not_applicable_examples") or 0,
             "why": (o.get("message") if o["status"] == "not_applicable"
                     else "; ".join(f"{why} ({n}x)" for why, n in
                                    (o.get("not_applicable_reasons") or {}).items())),
             "whole": o["status"] == "not_applicable"}
            for i, o in outcomes.items()
            if o["status"] == "not_applicable" or o.get("not_applicable_examples")
        ]
        rows.append(
            {
                "name": name,
                "impl": impl,
                "anchor": f"impl-{len(rows) + 1}",
                "failure_anchors": anchors,
                "hint": top_hint(impl),
                # root causes with their likely causes (computed for a document written
                # before they were kept)
                "causes": impl.get("root_causes") or (
                    root_causes(impl) if impl.get("verdict") == "non-conformant" else []),
                "not_applicable": not_applicable,
            }
        )
    verdicts = Counter(impl["verdict"] for impl in results["implementations"].values())
    pictures, ratio_plots = {}, {}
    for name, impl in results["implementations"].items():
        plot = ratio_plot(name, impl["results"])
        if plot:
            ratio_plots[name] = plot
        for outcome in impl["results"].values():
            if outcome["status"] not in FAILING + ("known_failure",):
                continue
            for failure in outcome.get("failures") or [outcome]:
                pictures[id(failure)] = {"heat_maps": heat_maps(failure),
                                         "permutation": permutation(failure)}
    return {
        "pictures": pictures,
        "ratio_plots": ratio_plots,
        "warnings": {name: impl["warnings"] for name, impl in results["implementations"].items()
                     if impl.get("warnings")},
        "run": results["run"],
        "catalogue": catalogue,
        "columns": columns,
        "passing_columns": set(columns) - failing_columns,
        "rows": rows,
        "failure_count": failure_count,
        "not_applicable_count": sum(len(r["not_applicable"]) for r in rows),
        "verdicts": verdicts,
        "benchmarks": results.get("benchmarks"),
    }


def _format_duration(seconds: Any) -> str:
    """A run or test duration for people: 850 ms, 42.1 s, 3 min 05 s, 1 h 02 min."""
    if not isinstance(seconds, (int, float)):
        return "–" if seconds is None else str(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _format_seconds(seconds: Any) -> str:
    """A benchmark time with an SI prefix and 3 significant digits: 12.3 µs, 4.56 ms."""
    if not isinstance(seconds, (int, float)):
        return "–" if seconds is None else str(seconds)
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


#: Error ratios past this say only "far off": the search caps its target there too.
RATIO_CAP = 1e6


def format_ratio(ratio: Any) -> str:
    """An observed / allowed error ratio: 2 significant digits, or "> 1e6" past the cap."""
    if not isinstance(ratio, (int, float)):
        return "–" if ratio is None else str(ratio)
    return f"> {RATIO_CAP:.0e}".replace("e+0", "e") if ratio > RATIO_CAP else f"{ratio:.2g}"


def _format_value(value: Any) -> str:
    """A JSON value in a table cell: strings as they are, a flat object as ``k=v, k=v``,
    everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{key}={_format_value(item)}" for key, item in value.items())
    return json.dumps(value, ensure_ascii=False)


# --- JUnit XML ------------------------------------------------------------------------------


def junit_xml(results: dict) -> str:
    """JUnit XML for CI dashboards: one testsuite per implementation, one testcase per result.

    A broken implementation gets a testcase "load" with an <error>.
    """
    root = ET.Element("testsuites", name="lstm-conformance")
    for name, impl in results["implementations"].items():
        cases = [
            (inv_id, outcome["status"], _number(outcome.get("duration_s")), outcome)
            for inv_id, outcome in impl["results"].items()
        ]
        if impl["verdict"] == "broken":
            load_error = impl.get("load_error") or "the implementation could not be loaded"
            cases.insert(0, ("load", "error", 0.0, {"message": load_error}))
        suite = ET.SubElement(root, "testsuite", name=_xml_text(name))
        for case_name, status, seconds, outcome in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_xml_text(f"conformance.{name}"),
                name=_xml_text(case_name),
                time=f"{seconds:.3f}",
            )
            if status in JUNIT_TAGS:
                message = outcome.get("message") or status.replace("_", " ")
                detail = ET.SubElement(case, JUNIT_TAGS[status], message=_xml_text(message))
                detail.text = _xml_text(_failure_text(outcome))
        counts = Counter(status for _, status, _, _ in cases)
        suite.attrib.update(
            tests=str(len(cases)),
            failures=str(counts["failed"]),
            errors=str(counts["error"]),
            skipped=str(counts["not_applicable"]),
            time=f"{sum(seconds for _, _, seconds, _ in cases):.3f}",
        )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _failure_text(outcome: dict) -> str:
    """The body of a <failure>/<error>: message, counterexample and how to reproduce."""
    parts = [outcome.get("message")]
    if outcome.get("counterexample") is not None:
        parts.append("counterexample: " + json.dumps(outcome["counterexample"], indent=2))
    if outcome.get("reproduce"):
        parts.append("reproduce: " + outcome["reproduce"])
    if outcome.get("hypothesis_reproduce"):
        parts.append(outcome["hypothesis_reproduce"])
    return "\n".join(part for part in parts if part)


def _number(value: Any) -> float:
    """A duration as a float; 0 when missing or not a finite number ("nan" from json_safe)."""
    return float(value) if isinstance(value, (int, float)) else 0.0


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", str(text))
