"""results.json is described by docs/results.schema.json: the fixture and a real run."""

import json
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "results.schema.json").read_text())
SAMPLE = json.loads((ROOT / "tests" / "fixtures" / "results_sample.json").read_text())


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_fixture_follows_the_schema():
    jsonschema.validate(SAMPLE, SCHEMA)


def test_a_real_run_follows_the_schema(conformance_run):
    run = conformance_run("--lstm-impl", "independent-packed-padded-end", "--lstm-impl",
                          "torch-lstm", "--lstm-profile", "quick", "-k",
                          "packed-per-sequence or matches-oracle or lifecycle")
    assert run.results is not None, run.output[-3000:]
    jsonschema.validate(run.results, SCHEMA)
    entry = run.impl("independent-packed-padded-end")
    result = entry["results"]["packed-per-sequence"]
    assert result["failures"][0] == {**result["failures"][0], **{
        k: result[k] for k in ("status", "message", "counterexample", "reproduce")}}
    assert all(r["max_ratio"] is None or r["max_ratio"] >= 0 for r in entry["results"].values())


def test_a_wrong_status_is_rejected():
    broken = json.loads(json.dumps(SAMPLE))
    impl = next(iter(broken["implementations"].values()))
    next(iter(impl["results"].values()))["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_root_causes_with_likely_causes_and_not_checked_follow_the_schema():
    """A document with a root cause (likely cause and evidence) and an implementation for
    which nothing ran validates; a likely cause without its text does not."""
    from lstm_conformance.report import json_safe
    from lstm_conformance.results import Collector

    failure = {"status": "failed", "message": "h_n differs", "kind": "oracle", "reproduce": None,
               "counterexample": {"check": "oracle", "tensor": "h_n", "expected": 0.2779,
                                  "actual": 0.2213, "max_abs_diff": 0.0566,
                                  "tolerance": {"atol": 1e-5, "rtol": 1e-6},
                                  "case": {"dtype": "float32", "form": "batched",
                                           "bidirectional": True}},
               "condition": {"features": ["bidirectional"], "text": "when bidirectional=True"}}
    collector = Collector("quick", 0, {"impl": None, "keyword": "nothing"}, [])
    collector.implementation("slip")
    collector.record("slip", "matches-oracle", {
        "status": "failed", "examples": 3, "duration_s": 0.1, "message": "h_n differs",
        "counterexample": failure["counterexample"], "reproduce": None, "failures": [failure]})
    collector.implementation("idle")
    document = json_safe(collector.document())
    jsonschema.validate(document, SCHEMA)
    assert document["implementations"]["idle"]["verdict"] == "not-checked"
    cause = document["implementations"]["slip"]["root_causes"][0]
    assert "evidence" in cause and "likely_cause" in cause
    cause["likely_cause"] = {"id": "gate-order"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)
