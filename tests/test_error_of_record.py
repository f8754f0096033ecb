"""The error of record of a failure is the largest the run saw; the shrunk (minimal)
counterexample stands beside it. Shrinking moves towards small cases, whose errors are
often the smallest, so a headline of the shrunk case's numbers understates the defect."""

from __future__ import annotations

import torch
from hypothesis import settings
from torch import nn

from lstm_conformance.outcome import error_size
from lstm_conformance.profiles import profile_settings
from lstm_conformance.results import Collector
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id


class GrowsWithWidth(nn.LSTM):
    """c_n off by 1e-3 x hidden_size: the shrunk case (hidden_size 1) shows the least."""

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        return output, (h_n, c_n + 1e-3 * self.hidden_size)


def test_the_headline_states_the_largest_error_with_the_minimal_case_beside_it():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        outcome = run_check(Subject("grows", GrowsWithWidth), by_id("matches-oracle"),
                            settings(profile_settings("quick"), database=None), 0)
    assert outcome.status == "failed"
    failure = outcome.failures[0]
    shrunk = failure["counterexample"]
    assert shrunk["case"]["hidden_size"] == 1
    largest = failure["largest"]
    assert largest is not None, failure["message"]
    assert largest["case"]["hidden_size"] > 1
    assert largest["size"] > 1.5 * error_size(shrunk)
    # the error of record first, the minimal counterexample beside it
    assert failure["message"].startswith(largest["message"])
    assert f"the minimal counterexample: {failure['minimal_message']}" in failure["message"]
    assert f"{shrunk['max_abs_diff']:.3g}" in failure["minimal_message"]
    assert outcome.message == failure["message"]

    collector = Collector("quick", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("grows")
    collector.record("grows", "matches-oracle", outcome.as_dict())
    cause = collector.document()["implementations"]["grows"]["root_causes"][0]
    assert f"max |diff| {largest['max_abs_diff']:.3g}" in cause["headline"]


def test_a_shrunk_case_that_is_the_largest_keeps_its_own_message():
    class ShrinksWithWidth(nn.LSTM):
        """c_n off by 1e-2 / hidden_size: the shrunk case (hidden_size 1) is the worst."""

        def forward(self, input, hx=None):
            output, (h_n, c_n) = super().forward(input, hx)
            return output, (h_n, c_n + 1e-2 / self.hidden_size)

    float32_only = frozenset({"float64", "float16", "bfloat16"})  # one tolerance for all
    outcome = run_check(Subject("shrinks", ShrinksWithWidth, float32_only),
                        by_id("matches-oracle"),
                        settings(profile_settings("quick"), database=None), 0)
    failure = outcome.failures[0]
    assert failure["counterexample"]["case"]["hidden_size"] == 1
    assert failure["largest"] is None and failure["minimal_message"] is None
    assert "largest error seen" not in failure["message"]


def test_errors_compare_over_what_their_tolerance_allows():
    """A bfloat16 error of 1.5 under a tolerance of 0.5 is smaller than a float32 error of
    1e-3 under 1e-5: the error of record is the one furthest past its limit."""
    bfloat16 = {"max_abs_diff": 1.5, "expected": 1.5, "tolerance": {"atol": 0.5, "rtol": 0.0}}
    float32 = {"max_abs_diff": 1e-3, "expected": 0.0, "tolerance": {"atol": 1e-5, "rtol": 0.0}}
    assert error_size(bfloat16) == 3.0
    assert error_size(float32) == 100.0
    assert error_size({"max_abs_diff": float("nan")}) is None
