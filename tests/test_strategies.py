"""The strategies reach the corners they claim, and respect declared gaps."""

import pytest
import torch
from hypothesis import find, given, settings
from hypothesis.errors import NoSuchExample

from lstm_conformance.spec.capabilities import FEATURES
from lstm_conformance.spec.strategies import BOUNDARY_SIZES, Draws, cases

CORNERS = {
    "seq_len 1": lambda c: c.seq_len == 1,
    "batch 1": lambda c: c.batch == 1,
    "batch outside {D*num_layers, seq_len}": lambda c: c.form == "batched"
    and c.batch not in (c.config.state_rows, c.seq_len) and c.batch > 1,
    "bidirectional with 3 layers": lambda c: c.config.bidirectional and c.config.num_layers == 3,
    "projection": lambda c: c.config.proj_size > 0,
    "no bias": lambda c: not c.config.bias,
    "batch_first": lambda c: c.config.batch_first,
    "float32": lambda c: c.dtype == torch.float32,
    "float64": lambda c: c.dtype == torch.float64,
    "unbatched": lambda c: c.form == "unbatched",
    "packed, unsorted, with a length-1 sequence": lambda c: c.form == "packed"
    and 1 in c.lengths and list(c.lengths) != sorted(c.lengths, reverse=True),
    "packed, enforce_sorted": lambda c: c.form == "packed" and c.enforce_sorted and c.batch > 1,
    "explicit (h0, c0)": lambda c: c.hx is not None,
    "no hx": lambda c: c.hx is None,
    "tiny weights": lambda c: c.weight_scale == "tiny",
    "large weights": lambda c: c.weight_scale == "large",
    "saturating input (|x| > 100)": lambda c: float(c.x.abs().max()) > 100,
}


@pytest.mark.parametrize("corner", sorted(CORNERS))
def test_corner_is_reached(corner):
    found = find(cases(), CORNERS[corner], settings=settings(max_examples=2000, database=None))
    assert CORNERS[corner](found)


def test_training_cases_with_dropout_are_drawn_on_request():
    found = find(cases(draws=Draws(training=True, dropout=True, min_layers=2)),
                 lambda c: c.training and c.config.dropout > 0, settings=settings(database=None))
    assert found.config.num_layers >= 2


@pytest.mark.parametrize(("dtype", "overflow"), [("float32", 44), ("float64", 355)])
def test_saturating_inputs_push_pre_activations_past_where_exp_overflows(dtype, overflow):
    """exp(2z) overflows past z = 44 (float32) and z = 355 (float64): an overflow-prone
    tanh must meet such pre-activations."""
    def pre_activation(case):
        w = case.weights["weight_ih_l0"].double()
        return float((case.x.double() @ w.T).max())

    found = find(cases(draws=Draws(dtypes=(dtype,))), lambda c: pre_activation(c) > overflow,
                 settings=settings(max_examples=2000, database=None))
    assert pre_activation(found) > overflow


@pytest.mark.parametrize("gap", ["bidirectional", "packed", "proj_size", "multi_layer",
                                 "unbatched", "initial_state", "no_bias", "float64"])
def test_a_declared_gap_is_never_drawn(gap):
    supported = frozenset(FEATURES) - {gap}

    @settings(max_examples=200, database=None)
    @given(cases(supported=supported))
    def never(case):
        assert gap not in case.features()

    never()
    # ... and the same strategy without the gap does reach it:
    with_gap = find(cases(), lambda c: gap in c.features(),
                    settings=settings(max_examples=2000, database=None))
    assert gap in with_gap.features()


def test_no_case_outside_what_nn_lstm_accepts():
    with pytest.raises(NoSuchExample):
        find(cases(), lambda c: c.config.proj_size >= c.config.hidden_size,
             settings=settings(max_examples=300, database=None))


@pytest.mark.parametrize("dimension", sorted(BOUNDARY_SIZES))
def test_large_cases_push_one_dimension_past_every_boundary(dimension):
    """With ``large=True`` each dimension reaches its largest boundary size, and only one
    dimension at a time is large (the others stay tiny, so a failure points at one)."""
    read = {"hidden_size": lambda c: c.config.hidden_size,
            "input_size": lambda c: c.config.input_size,
            "seq_len": lambda c: c.seq_len, "batch": lambda c: c.batch}
    biggest = max(BOUNDARY_SIZES[dimension])
    found = find(cases(draws=Draws(large=True)), lambda c: read[dimension](c) == biggest,
                 settings=settings(max_examples=3000, database=None))
    others = [name for name in read if name != dimension and read[name](found) > 8]
    assert not others, others


def test_large_cases_shrink_to_the_smallest_boundary_that_fails():
    """A failure from hidden_size 33 on shrinks to exactly 33."""
    found = find(cases(draws=Draws(large=True)), lambda c: c.config.hidden_size >= 33,
                 settings=settings(max_examples=3000, database=None))
    assert found.config.hidden_size == 33
