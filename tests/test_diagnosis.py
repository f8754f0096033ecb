"""Diagnosis: every distinct failure with its condition, root causes across checks, a case
you can step through, and pictures."""

from __future__ import annotations

import subprocess
import sys

import torch
from hypothesis import settings

from conformance.pictures import heat_maps, permutation
from conformance.profiles import profile_settings
from conformance.results import Collector
from conformance.runner import run_check
from conformance.scripts import script_for
from spec.harness import Subject
from spec.invariants import by_id
from tests.defects.combined import DeepBidirectionalAndFloat64, LoudProjectionQuietPacked

SETTINGS = settings(profile_settings("default"), database=None)


def _check(defect: type, invariant_id: str, seed: int = 0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return run_check(Subject(defect.__name__, defect), by_id(invariant_id), SETTINGS, seed)


def test_a_loud_and_a_quiet_bug_are_both_reported():
    """The loud bug (an error on every projection case) is one root cause across checks,
    with its condition; the quiet one (packed h_n at the padded end) still shows as a
    failure of the packed check, with its own counterexample (hypothesis reports both, or
    the search with the loud one's condition left out finds it)."""
    packed = _check(LoudProjectionQuietPacked, "packed-per-sequence")
    assert [f["condition"]["features"] for f in packed.failures][0] == ["proj_size"]
    loud, quiet = packed.failures[0], packed.failures[1]
    assert loud["status"] == "error" and "projections are not supported" in loud["message"]
    assert quiet["status"] == "failed" and quiet["kind"] == "packed-per-sequence"
    assert quiet["excluded"] in ([], ["proj_size"])
    assert quiet["counterexample"]["case"]["proj_size"] == 0

    collector = Collector("default", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("converter")
    collector.record("converter", "packed-per-sequence", packed.as_dict())
    for invariant_id in ("matches-oracle", "output-shapes"):
        collector.record("converter", invariant_id,
                         _check(LoudProjectionQuietPacked, invariant_id).as_dict())
    entry = collector.document()["implementations"]["converter"]
    loud_cause = entry["root_causes"][0]
    assert loud_cause["kind"].startswith("error:raised:RuntimeError")
    assert "when proj_size > 0" in loud_cause["headline"]
    assert set(loud_cause["checks"]) == {"matches-oracle", "output-shapes",
                                         "packed-per-sequence"}
    assert any(c["kind"] == "packed-per-sequence" for c in entry["root_causes"][1:])


def test_two_conditions_are_named_and_the_rest_passes():
    """The second bug is found by a fresh search with the first one's condition left out:
    at the default profile that search may miss it (seed 0 did, in one of six seeds tried),
    so three of four seeds must find both."""
    found_both = 0
    for seed in range(4):
        outcome = _check(DeepBidirectionalAndFloat64, "matches-oracle", seed)
        conditions = {tuple(f["condition"]["features"]) for f in outcome.failures}
        assert ("float64",) in conditions, outcome.failures  # the loud one: always
        assert outcome.rest_status == "passed"
        found_both += ("bidirectional", "multi_layer") in conditions
    assert found_both >= 3


def test_the_standalone_script_runs_and_prints_the_difference(tmp_path):
    outcome = _check(DeepBidirectionalAndFloat64, "matches-oracle", 1)
    failure = next(f for f in outcome.failures if f["status"] == "failed")
    source = script_for("deep-bidi", "matches-oracle", failure, "x.py")
    # The script loads through the entry point; here the defect is put in its place.
    source = source.replace('load(registered()[\'deep-bidi\'])[0]',
                            'Subject("deep-bidi", DeepBidirectionalAndFloat64)')
    source = source.replace("import torch\n", "import torch\nfrom tests.defects.combined import "
                            "DeepBidirectionalAndFloat64\n", 1)
    path = tmp_path / "repro.py"
    path.write_text(source)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[1]),
                          env={**__import__("os").environ, "PYTHONPATH": "."})
    assert "max |diff|:" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Violation" in proc.stderr  # the check raises its failure


def test_pictures_and_permutations_of_a_failure():
    expected = [[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6], [0.7, 0.8]]]
    actual = [[[0.5, 0.6], [0.7, 0.8]], [[0.1, 0.2], [0.3, 0.4]]]  # rows swapped
    failure = {"tensors": {"dims": ["row", "batch", "feature"], "expected": expected,
                           "actual": actual}, "counterexample": {"index": [0, 1, 0]}}
    assert heat_maps(failure).startswith("data:image/png;base64,")
    words = permutation(failure)
    assert "actual row 0 equals expected row 1" in words
    assert "actual row 1 equals expected row 0" in words
    assert permutation({"tensors": {"dims": ["t"], "expected": [1.0, 2.0],
                                    "actual": [1.0, 2.5]}}) is None
