"""Chapter 8: input validation.

Malformed input raises nn.LSTM's exception types, with its messages where its Python
front end words them. An implementation that accepts it silently has *failed*; one that
raises an exception of another type has an *error*: the answer is not an LSTM's at all.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from lstm_conformance.spec.case import Case
from lstm_conformance.spec.errors import ImplementationError, Violation, qualified_name
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.strategies import dtype_cases
from lstm_conformance.spec.vocabulary import Form

#: Malformed calls: (what, how to make it from a good batched call, exception type, the
#: start of nn.LSTM's message when its Python front end raises it, else None).
BAD_INPUTS = {
    "1-D input": (lambda x, hx: (x[:, 0, 0], None), ValueError,
                  "LSTM: Expected input to be 2D or 3D, got 1D instead"),
    "4-D input": (lambda x, hx: (x.unsqueeze(0), None), ValueError,
                  "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    "wrong feature size": (lambda x, hx: (torch.cat([x, x[..., :1]], -1), hx), RuntimeError,
                           "input.size(-1) must be equal to input_size"),
    "h0 with the wrong batch size": (
        lambda x, hx: (x, (torch.cat([hx[0], hx[0][:, :1]], 1), hx[1])), RuntimeError,
        "Expected hidden[0] size"),
    "c0 with the wrong hidden size": (
        lambda x, hx: (x, (hx[0], torch.cat([hx[1], hx[1][..., :1]], -1))), RuntimeError,
        "Expected hidden[1] size"),
    "2-D (h0, c0) for 3-D input": (lambda x, hx: (x, (hx[0][:, 0], hx[1][:, 0])), RuntimeError,
                                   "For batched 3-D input, hx and cx should also be 3-D"),
    "seq_len 0": (lambda x, hx: (x[:0], hx), RuntimeError, None),
}


@invariant(
    id="bad-input-raises", title="Malformed input raises nn.LSTM's errors",
    statement="1-D or 4-D input, a wrong feature size, (h0, c0) of the wrong shape or "
    "dimensionality, and seq_len 0 raise nn.LSTM's exception type (and its message, where its "
    "Python front end words it).",
    expression="lstm(bad) raises ValueError (input dims) or RuntimeError (sizes, seq_len 0)",
    requires=("input_validation",),
    cases=dict(forms=(Form.BATCHED,), initial_state=True, batch_first=False),
    extra=lambda case: st.sampled_from(sorted(BAD_INPUTS)),
    catches=("wrong input_size accepted (pytorch#114874)",
             "bad hx accepted for packed input (pytorch#195803)"),
    decisive=lambda inv, supported: [(case, kind) for kind in sorted(BAD_INPUTS)
                                     for case in dtype_cases(supported, inv.draws)[:1]],
)
def bad_input_raises(subject: Subject, case: Case, kind: str) -> None:
    make, expected, message = BAD_INPUTS[kind]
    module = subject.module_for(case)
    x, hx = make(case.x, case.hx)
    x = subject.as_declared(x)  # the malformed tensors are slices: views of case.x
    hx = None if hx is None else tuple(subject.as_declared(s) for s in hx)
    try:
        module(x) if hx is None else module(x, hx)
    except NotImplementedError:
        raise
    except Exception as exc:
        name = qualified_name(type(exc))
        if not isinstance(exc, expected):
            with_state = hx is None and case.hx is not None and _raises(
                module, x, tuple(subject.as_declared(s) for s in case.hx), expected)
            raise ImplementationError(
                f"{kind}: raised {name}: {exc}; nn.LSTM raises {expected.__name__}"
                + (" (so does this implementation once (h0, c0) is passed: the call "
                   "without a state differs)" if with_state else ""),
                kind="raised", exception=name,
                replayed=frozenset({"default_state"}) if with_state else frozenset()) from exc
        if message and message not in str(exc):
            raise Violation(f"{kind}: {name} says {str(exc)!r}; nn.LSTM's says {message!r}...",
                            {"check": "bad-input-message", "quantity": kind,
                             "actual": str(exc), "expected": message}) from exc
        return
    raise Violation(f"{kind}: accepted without an error; nn.LSTM raises {expected.__name__}",
                    {"check": "bad-input-accepted", "quantity": kind,
                     "expected": expected.__name__})


def _raises(module, x, hx, expected: type) -> bool:
    """Whether the call with this (h0, c0) raises ``expected``: a malformed input that
    raises another type without a state and nn.LSTM's with one fails in the
    implementation's own default state, before nn.LSTM's validation."""
    try:
        module(x, hx)
    except expected:
        return True
    except Exception:
        return False
    return False
