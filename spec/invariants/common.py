"""What the chapters share: the tolerance of a case, the oracle's answer, and comparing
the three results (output, h_n, c_n) of two runs in one call."""

from __future__ import annotations

import torch

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.asserts import assert_close
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.harness import OUTPUT_DIMS, STATE_DIMS
from lstm_conformance.spec.oracle import lstm_forward
from lstm_conformance.spec.vocabulary import Form


def tol(case: Case) -> tolerance.Tolerance:
    """Between two runs of the implementation: its dtype's, grown with its magnitude and
    its length."""
    return tolerance.forward(case.dtype, case.magnitude, case.seq_len)


def accuracy(case: Case) -> tolerance.Tolerance:
    """Against a reference (the oracle, a closed form): the dtype's, or the declared."""
    return tolerance.accuracy(case.dtype, case.magnitude, case.seq_len)


def compare_all(actual: tuple, expected: tuple, case: Case, label: str, *, check: str,
                within: tolerance.Tolerance | None = None) -> None:
    """Output, h_n and c_n of two results (``Result.triple``, or an oracle triple), within
    ``within`` (default: ``tol(case)``, for two runs of the implementation)."""
    __tracebackhide__ = True
    within = within or tol(case)
    for name, a, e, dims in (("output", actual[0], expected[0], OUTPUT_DIMS),
                             ("h_n", actual[1], expected[1], STATE_DIMS),
                             ("c_n", actual[2], expected[2], STATE_DIMS)):
        assert_close(a, e, f"{name} {label}", within, dims, check=check, name=name)


def oracle(case: Case, **overrides) -> tuple:
    """The float64 oracle's (output, h_n, c_n) for ``case`` (tensors, float64); ``x`` and
    ``hx`` may be overridden."""
    as_np = lambda t: t.detach().double().numpy()  # noqa: E731
    x = overrides.get("x", case.x)
    hx = overrides.get("hx", case.hx)
    lengths = case.lengths if case.form == Form.PACKED else None
    out = lstm_forward(case.config, {k: as_np(v) for k, v in case.weights.items()}, as_np(x),
                       None if hx is None else (as_np(hx[0]), as_np(hx[1])), lengths)
    return tuple(torch.from_numpy(a) for a in out)
