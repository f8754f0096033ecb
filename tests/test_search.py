"""A check with several distinct failures keeps looking until what is left passes, or its
budget is spent, and says which; an error met in several checks gets one condition."""

from __future__ import annotations

import torch
from hypothesis import settings
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from lstm_conformance.outcome import MAX_FAILURES
from lstm_conformance.profiles import profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id

QUICK = settings(profile_settings("quick"), database=None)


class ManyGaps(nn.LSTM):
    """Like PyTorch's quantizable LSTM: no float64, no packed or unbatched input (each an
    error of its own), and wrong h_n for bidirectional layers >= 2."""

    def forward(self, input, hx=None):
        if self.weight_ih_l0.dtype == torch.float64:
            raise RuntimeError("no float64 kernel for this LSTM")
        if isinstance(input, PackedSequence):
            raise RuntimeError("packed input is not supported")
        if input.dim() == 2:
            raise RuntimeError("unbatched input is not supported")
        output, (h_n, c_n) = super().forward(input, hx)
        if self.bidirectional and self.num_layers >= 2:
            h_n = h_n + 1e-2
        return output, (h_n, c_n)


def _check(invariant_id: str, conditions: dict | None = None):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return run_check(Subject("many-gaps", ManyGaps), by_id(invariant_id), QUICK, 0,
                         conditions=conditions)


def test_the_search_goes_on_until_the_rest_passes():
    outcome = _check("matches-oracle")
    conditions = {tuple(f["condition"]["features"]) for f in outcome.failures}
    assert len(outcome.failures) > 3, [f["message"] for f in outcome.failures]
    assert {("float64",), ("packed",), ("unbatched",)} <= conditions, conditions
    assert outcome.search_ended == "rest-known"
    assert outcome.rest_status == "passed"
    assert {"float64", "packed", "unbatched"} <= set(outcome.passes_without)


def test_a_spent_budget_is_said_so():
    class TooMany(nn.LSTM):
        """A wrong result under every one of more features than the budget allows."""

        def forward(self, input, hx=None):
            output, (h_n, c_n) = super().forward(input, hx)
            for n, wrong in enumerate((self.weight_ih_l0.dtype == torch.float64,
                                       isinstance(input, PackedSequence), input.dim() == 2,
                                       self.bidirectional, self.num_layers > 1,
                                       not self.bias, self.proj_size > 0, hx is not None)):
                if wrong:
                    raise RuntimeError(f"fault number {'abcdefgh'[n]}")
            return output, (h_n, c_n)

    with torch.random.fork_rng():
        torch.manual_seed(0)
        outcome = run_check(Subject("too-many", TooMany), by_id("matches-oracle"), QUICK, 0)
    if len(outcome.failures) == MAX_FAILURES:
        assert outcome.search_ended == "budget-spent"
        assert outcome.rest_status is None
    else:  # the search found every fault and what is left passes
        assert outcome.search_ended == "rest-known"


def test_one_error_gets_the_condition_another_check_learned():
    learned: dict = {}
    first = _check("matches-oracle", learned)
    float64 = next(f for f in first.failures if "float64" in f["message"])
    assert float64["condition"]["features"] == ["float64"]
    assert ["float64"] in learned.values()
    for invariant_id in ("output-shapes", "batch-permutation"):
        outcome = _check(invariant_id, learned)
        for failure in outcome.failures:
            if "no float64 kernel" in failure["message"]:
                assert failure["condition"]["features"] == ["float64"], \
                    (invariant_id, failure["condition"])
