"""What the report's words attribute, and to whom: warnings to whoever raised them (the
suite's own reference nn.LSTM in the lifecycle machine is not the implementation under
test), "got" to the result under test, digits enough to tell two values apart, and each
root cause its own condition however long its message."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.stateful import _reference
from lstm_conformance.spec.strategies import make_weights


def test_the_lifecycle_reference_keeps_its_warnings_to_itself():
    config = LSTMConfig(input_size=2, hidden_size=3, num_layers=1, dropout=0.5)
    weights = make_weights(config, 0, 1.0, torch.float32)
    with pytest.warns(UserWarning, match="dropout"):  # nn.LSTM itself warns here
        torch.nn.LSTM(**config.kwargs())
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        reference = _reference(config, weights, torch.float32)
        reference.to(torch.float64)
    assert heard == [], [str(w.message) for w in heard]


def test_a_long_exception_message_does_not_hide_the_condition():
    """Two root causes that differ only in their condition read apart in the report and on
    the terminal, however long the exception message before it."""
    from types import SimpleNamespace

    from lstm_conformance.results import Collector
    from lstm_conformance.session import ConformanceRun

    long = "RuntimeError: " + "the fused kernel could not be built; " * 40
    collector = Collector("quick", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("long")
    for invariant, features in (("matches-oracle", ["packed"]),
                                ("output-shapes", ["float64"])):
        failure = {"status": "error", "message": long + features[0], "kind": "error:raised:x",
                   "counterexample": None, "reproduce": None,
                   "condition": {"features": features, "text": f"when {features[0]}"}}
        collector.record("long", invariant, {"status": "error", "message": failure["message"],
                                             "counterexample": None, "reproduce": None,
                                             "examples": 1, "duration_s": 0.1,
                                             "failures": [failure]})
    document = collector.document()
    lines: list[str] = []
    terminal = SimpleNamespace(section=lambda *a, **k: None,
                               write_line=lambda line, **k: lines.append(line))
    run = SimpleNamespace(document=document, report_error=None, report_dir=Path("r"))
    ConformanceRun.summary(run, terminal)
    causes = [line for line in lines if line.lstrip().startswith(("1.", "2."))]
    assert len(causes) == 2, lines
    for cause in document["implementations"]["long"]["root_causes"]:
        assert any(f"fails {cause['condition']}:" in line for line in causes), (cause, causes)
    assert {c["condition"] for c in document["implementations"]["long"]["root_causes"]} == \
        {"when PackedSequence input", "when float64 weights and input"}


def test_one_line_messages_show_enough_digits_to_tell_values_apart():
    from lstm_conformance.spec.asserts import expected_and_got

    assert expected_and_got(0.277966, 0.22133) == "expected 0.277966, got 0.22133"
    close = expected_and_got(-0.0505183, -0.0505183 + 2.9e-10)
    expected, got = close.removeprefix("expected ").split(", got ")
    assert expected != got and float(got) - float(expected) > 2e-10, close


def test_packed_per_sequence_calls_the_packed_result_got():
    """The packed result is the one under test: it is "got", the sequence run alone is
    "expected"."""
    from hypothesis import settings

    from lstm_conformance.profiles import profile_settings
    from lstm_conformance.runner import run_check
    from lstm_conformance.spec.harness import Subject
    from lstm_conformance.spec.invariants import by_id
    from tests.defects.packed import PackedStatesAtPaddedEnd

    outcome = run_check(Subject("padded-end", PackedStatesAtPaddedEnd),
                        by_id("packed-per-sequence"),
                        settings(profile_settings("quick"), database=None), 0)
    failure = next(f for f in outcome.failures if f["kind"] == "packed-per-sequence")
    assert "packed vs run alone" in failure["counterexample"]["quantity"], failure["message"]
