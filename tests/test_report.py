"""Tests of the report writer: it shows what the results say, escapes what it is given, writes
atomically, and the page loads cleanly in a real browser (headless Chromium, where installed)."""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lstm_conformance import report
from lstm_conformance.hints import hint
from lstm_conformance.report import ReportError, junit_xml, render_html, write_reports

SAMPLE = json.loads((Path(__file__).parent / "fixtures" / "results_sample.json").read_text())
REPORT_FILES = ["index.html", "junit.xml", "results.json"]
HOSTILE = "<script>alert(1)</script> & 'quotes' \x1b[31m"
HOSTILE_NAME = 'evil "impl" <b>'


def sample() -> dict:
    return copy.deepcopy(SAMPLE)


def hostile() -> dict:
    """The sample plus an implementation whose name and failure carry markup and escapes."""
    results = sample()
    evil = copy.deepcopy(results["implementations"]["stacked"])
    outcome = evil["results"]["stacked-layers"]
    outcome["message"] = f"RuntimeError: {HOSTILE}"
    outcome["counterexample"]["case"]["form"] = HOSTILE
    outcome["reproduce"] = f"pytest conformance --lstm-impl '{HOSTILE_NAME}' -k \"a & b\""
    # the first of a result's failures is the result's own (results.schema.json)
    outcome["failures"][0].update({k: outcome[k] for k in ("message", "counterexample",
                                                            "reproduce")})
    results["implementations"][HOSTILE_NAME] = evil
    return results


def failures(results: dict):
    """(implementation, invariant id, outcome) for every failed or errored result."""
    for name, impl in results["implementations"].items():
        for inv_id, outcome in impl["results"].items():
            if outcome["status"] in ("failed", "error"):
                yield name, inv_id, outcome


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def page_text(html: str) -> str:
    """The text a reader sees (entities decoded, tags dropped), including the inline script."""
    parser = _Text()
    parser.feed(html)
    return "".join(parser.chunks)


def test_sample_covers_every_status_and_verdict():
    statuses = {
        outcome["status"]
        for impl in SAMPLE["implementations"].values()
        for outcome in impl["results"].values()
    }
    verdicts = {impl["verdict"] for impl in SAMPLE["implementations"].values()}
    assert statuses == {"passed", "failed", "error", "not_applicable"}
    assert verdicts == {"conformant", "non-conformant", "broken"}
    assert SAMPLE["benchmarks"]


def test_round_trip(tmp_path):
    write_reports(tmp_path / "new" / "reports", SAMPLE)
    out = tmp_path / "new" / "reports"
    assert sorted(p.name for p in out.iterdir()) == REPORT_FILES
    assert json.loads((out / "results.json").read_text()) == SAMPLE


def test_non_finite_floats_become_strings(tmp_path):
    results = sample()
    stacked_layers = results["implementations"]["stacked"]["results"]["stacked-layers"]
    stacked_layers["counterexample"].update(
        expected=math.nan, actual=math.inf, max_abs_diff=-math.inf
    )
    results["run"]["duration_s"] = math.nan
    write_reports(tmp_path, results)

    def reject(constant):
        raise AssertionError(f"results.json holds {constant}, which is not JSON")

    written = json.loads((tmp_path / "results.json").read_text(), parse_constant=reject)
    expected = sample()
    stacked_layers = expected["implementations"]["stacked"]["results"]["stacked-layers"]
    stacked_layers["counterexample"].update(expected="nan", actual="inf", max_abs_diff="-inf")
    expected["run"]["duration_s"] = "nan"
    assert written == expected
    assert "nan" in (tmp_path / "index.html").read_text()


def test_html_shows_what_the_results_say():
    text = page_text(render_html(SAMPLE))
    for name, impl in SAMPLE["implementations"].items():
        assert name in text
        assert impl["verdict"] in text
        for capability in impl.get("unsupported") or ():
            assert capability in text
    for invariant in SAMPLE["invariants"]:
        for key in ("id", "title", "statement", "expression"):
            assert invariant[key] in text
    for word in ("passed", "failed", "error", "n/a", "level full", "level partial"):
        assert word in text
    for _, _, outcome in failures(SAMPLE):
        assert outcome["message"] in text
        assert outcome["reproduce"] in text
        if outcome.get("hypothesis_reproduce"):
            assert outcome["hypothesis_reproduce"] in text
    assert SAMPLE["implementations"]["broken-plugin"]["load_error"] in text
    run = SAMPLE["run"]
    for value in (run["started"], run["profile"], str(run["seed"]), run["platform"]):
        assert value in text
    assert run["command"] in text
    assert all(version in text for version in run["versions"].values())


def test_html_links_cells_to_failure_details():
    html = render_html(SAMPLE)
    count = len(list(failures(SAMPLE)))
    for n in range(1, count + 1):
        assert f'href="#failure-{n}"' in html
        assert f'id="failure-{n}"' in html
    assert f'id="failure-{count + 1}"' not in html


def test_html_shows_counterexample_and_hint():
    text = page_text(render_html(SAMPLE))
    case = SAMPLE["implementations"]["stacked"]["results"]["stacked-layers"]["counterexample"]
    assert "weight_scale" in text and "max_abs_diff" in text and "atol=1e-05" in text
    assert case["quantity"] in text
    onnx = SAMPLE["implementations"]["onnx-port"]["results"]
    failed = {inv_id for inv_id, o in onnx.items() if o["status"] == "failed"}
    checked = {inv_id for inv_id, o in onnx.items() if o["status"] in ("passed", "failed")}
    assert hint(failed, checked) in text
    assert "Gate order" in hint(failed, checked)


def test_benchmarks_section_only_when_present():
    html = render_html(SAMPLE)
    assert 'id="benchmarks"' in html
    assert "412 µs" in html and "9.27×" in html
    results = sample()
    del results["benchmarks"]
    assert 'id="benchmarks"' not in render_html(results)


def test_not_applicable_section_says_what_was_not_checked_and_why():
    results = sample()
    name, impl = next(iter(results["implementations"].items()))
    inv_id = next(iter(impl["results"]))
    impl["results"][inv_id].update(status="not_applicable", message="needs packed, which X lacks")
    other = list(impl["results"])[1]
    impl["results"][other].update(
        status="passed", not_applicable_examples=3,
        not_applicable_reasons={"constructor: no bidirectional": 3})
    text = page_text(render_html(results))
    assert "Not applicable" in text
    assert "needs packed, which X lacks" in text and "the whole check" in text
    assert "constructor: no bidirectional (3x)" in text and "3 case(s)" in text
    for entry in results["implementations"].values():
        for outcome in entry["results"].values():
            outcome.update(status="passed", not_applicable_examples=0)
    assert 'id="not-applicable"' not in render_html(results)


def test_html_is_self_contained():
    html = render_html(SAMPLE)
    assert "<link" not in html
    assert " src=" not in html
    assert "http://" not in html and "https://" not in html
    assert html.count("<script>") == 1 and html.count("<style>") == 1


def test_hostile_text_is_escaped():
    results = hostile()
    html = render_html(results)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; " in html
    assert 'evil "impl"' not in html and "<b>" not in html
    assert "evil &#34;impl&#34; &lt;b&gt;" in html
    text = page_text(html)
    assert HOSTILE_NAME in text
    outcome = results["implementations"][HOSTILE_NAME]["results"]["stacked-layers"]
    assert outcome["reproduce"] in text


def test_minimal_results_render():
    """Only the contract's keys: everything else may be missing, and shapes may differ."""
    results = {
        "schema": 1,
        "run": {"profile": "quick", "seed": 1, "versions": {}, "duration_s": 0.5},
        "invariants": [{"id": "determinism", "title": "Determinism", "statement": "Same."}],
        "implementations": {
            "odd": {
                "verdict": "non-conformant",
                "load_error": None,
                "results": {
                    "determinism": {
                        "status": "failed",
                        "examples": 1,
                        "duration_s": 0.1,
                        "counterexample": ["not", "an", "object"],
                        "message": "differs",
                        "reproduce": None,
                    },
                    "not-in-catalogue": {
                        "status": "error",
                        "examples": 1,
                        "duration_s": 0.1,
                        "counterexample": {"seed": 3, "nested": {"a": [1, 2]}},
                        "message": "boom",
                        "reproduce": "pytest conformance --lstm-impl odd",
                    },
                },
            }
        },
    }
    text = page_text(render_html(results))
    assert "not-in-catalogue" in text and '["not", "an", "object"]' in text
    assert '{"a": [1, 2]}' in text and "500 ms" in text
    root = ET.fromstring(junit_xml(results))
    assert root.find("testsuite").get("errors") == "1"


def test_junit_xml_counts():
    results = hostile()
    root = ET.fromstring(junit_xml(results))
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == set(results["implementations"])
    for name, impl in results["implementations"].items():
        suite = suites[name]
        statuses = [o["status"] for o in impl["results"].values()]
        broken = impl["verdict"] == "broken"
        expected = {
            "failure": statuses.count("failed"),
            "error": statuses.count("error") + broken,
            "skipped": statuses.count("not_applicable"),
        }
        for tag, count in expected.items():
            assert len(suite.findall(f"testcase/{tag}")) == count
        assert suite.get("failures") == str(expected["failure"])
        assert suite.get("errors") == str(expected["error"])
        assert suite.get("skipped") == str(expected["skipped"])
        assert suite.get("tests") == str(len(statuses) + broken)
        assert all(case.get("classname") == f"conformance.{name}" for case in suite)
    load = suites["broken-plugin"].find("testcase[@name='load']/error")
    assert load.get("message") == results["implementations"]["broken-plugin"]["load_error"]
    failure = suites[HOSTILE_NAME].find("testcase[@name='stacked-layers']/failure")
    assert "<script>alert(1)</script> &" in failure.get("message")


def test_failed_render_leaves_previous_report(tmp_path, monkeypatch):
    write_reports(tmp_path, SAMPLE)
    before = {name: (tmp_path / name).read_bytes() for name in REPORT_FILES}

    def broken_renderer(results):
        raise RuntimeError("renderer failed midway")

    monkeypatch.setattr(report, "junit_xml", broken_renderer)
    changed = sample()
    changed["run"]["seed"] = 999
    with pytest.raises(RuntimeError, match="midway"):
        write_reports(tmp_path, changed)
    assert {name: (tmp_path / name).read_bytes() for name in REPORT_FILES} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == REPORT_FILES


def test_failed_write_leaves_no_temp_files(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "replace", refuse)
    with pytest.raises(ReportError, match="No space left on device"):
        write_reports(tmp_path, SAMPLE)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_raises_report_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    report_dir = blocker / "reports"
    with pytest.raises(ReportError) as caught:
        write_reports(report_dir, SAMPLE)
    assert str(report_dir) in str(caught.value)
    assert "--lstm-report-dir" in str(caught.value)


# --- in a real browser ------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(binary).exists():
        pytest.skip("Debian package chromium not installed; .ci/run installs it")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"{command} exited {run.returncode}:\n{run.stderr[-3000:]}"
    return run


def test_page_in_headless_chromium(tmp_path):
    write_reports(tmp_path, hostile())
    url = (tmp_path / "index.html").as_uri()

    screenshot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1400,1000", url)
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    run = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    assert '<table class="matrix">' in run.stdout
    assert '<html lang="en" class="js">' in run.stdout  # the inline script ran to its end
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line and url in line]
    assert console == [], "the page logged to the console:\n" + "\n".join(console)


def with_pictures() -> dict:
    """The sample with a failure that carries its tensors (rows swapped) and a check with
    its per-example ratios: what the report draws."""
    results = sample()
    entry = results["implementations"]["stacked"]
    outcome = entry["results"]["stacked-layers"]
    outcome["failures"][0]["tensors"] = {
        "dims": ["row", "batch", "feature"],
        "expected": [[[0.1, 0.2, 0.3]], [[0.4, 0.5, 0.6]]],
        "actual": [[[0.4, 0.5, 0.6]], [[0.1, 0.2, 0.3]]]}
    entry["results"]["matches-oracle"]["ratios"] = [0.01, 0.2, 0.7, 0.05]
    return results


def test_heat_maps_and_ratio_plots_in_headless_chromium(tmp_path):
    write_reports(tmp_path, with_pictures())
    html = (tmp_path / "index.html").read_text()
    assert 'class="heat-maps"' in html and 'class="ratio-plot"' in html
    assert "actual row 0 equals expected row 1" in html
    run = chromium(tmp_path, "--dump-dom", (tmp_path / "index.html").as_uri())
    assert 'class="heat-maps drawn"' in run.stdout
    assert 'class="ratio-plot drawn"' in run.stdout
    assert "broken" not in re.findall(r'<img[^>]*class="([^"]*)"', run.stdout)
    screenshot = tmp_path / "pictures.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1400,4000",
             (tmp_path / "index.html").as_uri())
    assert screenshot.stat().st_size > 10_000


def test_ratios_past_the_cap_read_as_such():
    from lstm_conformance.report import format_ratio

    assert format_ratio(3.9e11) == "> 1e6"
    assert format_ratio(0.53) == "0.53" and format_ratio(2.0e5) == "2e+05"
