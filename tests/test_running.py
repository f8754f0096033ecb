"""Running from anywhere (pytest --pyargs lstm_conformance, reports in the working directory) and
declared known failures."""

import json
import os
import subprocess
import sys

from lstm_conformance.outcome import Outcome
from lstm_conformance.selection import Loaded, declared_known_failures
from lstm_conformance.session import apply_known_failure


def test_pytest_pyargs_conformance_from_another_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "lstm_conformance", "-p", "no:cacheprovider",
         "--lstm-impl", "torch-lstm", "-k", "torch-lstm:output-shapes", "--lstm-profile",
         "quick"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["implementations"]["torch-lstm"]["results"]["output-shapes"]["status"] \
        == "passed"
    assert results["run"]["partial"] is True


def test_a_known_failure_is_reported_as_such_and_flips_once_fixed():
    class Port:
        lstm_conformance_known_failures = {"gate-probe": "reads ONNX gate order (org/repo#1)"}

    known = declared_known_failures(Port, {"gate-probe", "matches-oracle"})
    loaded = Loaded("port", {}, known_failures=known)
    failing = Outcome("failed", message="gate order")
    apply_known_failure(failing, loaded, "gate-probe")
    assert failing.status == "known_failure"
    assert failing.known_failure_reason == "reads ONNX gate order (org/repo#1)"
    fixed = Outcome("passed")
    apply_known_failure(fixed, loaded, "gate-probe")
    assert fixed.status == "unexpectedly_passed" and "org/repo#1" in fixed.message
    other = Outcome("failed")
    apply_known_failure(other, loaded, "matches-oracle")
    assert other.status == "failed"  # only what was declared


def test_a_known_failure_does_not_make_an_implementation_non_conformant():
    from lstm_conformance.results import level, verdict

    entry = {"load_error": None, "results": {
        "gate-probe": {"status": "known_failure"}, "matches-oracle": {"status": "passed"}}}
    assert verdict(entry) == "conformant"
    entry["verdict"] = verdict(entry)
    assert level(entry) == "partial"  # not "full": something is known not to work


def test_declaring_an_unknown_invariant_is_an_error():
    class Port:
        lstm_conformance_known_failures = {"gate-prob": "typo"}

    try:
        declared_known_failures(Port, {"gate-probe"})
    except ValueError as exc:
        assert "gate-prob" in str(exc)
    else:
        raise AssertionError("an unknown invariant id was accepted")
