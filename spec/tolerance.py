"""The tolerance policy: exact where the maths is exact, otherwise per dtype, measured.

The figures come from measurements of torch 2.13.0 on CPU over 87 configurations
(T up to 64, H up to 64, up to 3 layers, bidirectional, projections, weight scale x1
and x3), comparing float32 oneDNN, float32 native and float64 against a float64 oracle
(docs/TOLERANCES.md has the table):

* largest float32 forward error seen: 9.5e-7 (packed input); policy atol 1e-5,
  rtol 1.3e-6 (``torch.testing.assert_close``'s float32 defaults): 10x headroom.
* largest float64 forward error seen: 1.8e-15; policy atol 1e-12, rtol 1e-12.
* gradients, float32: 8.1e-6 absolute (1.8e-6 relative); policy 1e-4 / 1e-4.
  float64: 2.5e-14 (2.6e-15 relative); policy 1e-10 / 1e-10.

Rounding errors grow with the size of what is rounded. The figures above are for inputs
of unit scale, where a case's ``magnitude`` (``Case.magnitude``: the largest sum of
|terms| of a gate pre-activation) stays below about 19. Above ``REFERENCE_MAGNITUDE``
both tolerances grow in proportion to it, as the error bound of a dot product does
(gamma_n * sum |w_j x_j|). Measured: with saturating float32 inputs (magnitude up to
about 1000), a correct LSTM's batch-of-one run differed from its batched run by 1.36e-5
at magnitude 636, which a fixed atol of 1e-5 reported as a failure; the scaled atol there
is 4e-4, 29x that error.

Structural invariants (a quantity that is by definition the same number, computed
through the same kernel) are compared with ``EXACT``: ``torch.equal``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    """|actual - expected| <= atol + rtol * |expected|, elementwise."""

    atol: float
    rtol: float

    @property
    def exact(self) -> bool:
        return self.atol == 0.0 and self.rtol == 0.0

    def as_dict(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol}

    def __str__(self) -> str:
        return "exact" if self.exact else f"atol={self.atol:g}, rtol={self.rtol:g}"


EXACT = Tolerance(0.0, 0.0)

#: Up to this magnitude the measured figures apply unchanged (unit-scale inputs stay below
#: it but for a rare case at about 19); above it atol grows in proportion.
REFERENCE_MAGNITUDE = 16.0

#: Unit roundoff of the half-precision dtypes: 2^-11 (float16), 2^-8 (bfloat16).
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


def _half(dtype: torch.dtype, scale: float) -> Tolerance:
    """Half precision, in unit roundoffs u: atol 128 u, rtol 16 u (times ``scale``). The
    largest forward error measured was about 43 u (0.68 of 64 u, against the oracle, at the
    thorough profile, hypothesis's targeted search pushing towards it); two runs of nn.LSTM
    in float16 differed by 26 u where each erred by 13 u on opposite sides. 128 u leaves a
    margin of 3 (docs/TOLERANCES.md)."""
    u = UNIT_ROUNDOFF[dtype]
    return Tolerance(atol=128 * u * scale, rtol=16 * u * scale)


_FORWARD = {
    torch.float32: Tolerance(atol=1e-5, rtol=1.3e-6),
    torch.float64: Tolerance(atol=1e-12, rtol=1e-12),
    torch.float16: _half(torch.float16, 1.0),
    torch.bfloat16: _half(torch.bfloat16, 1.0),
}
_GRADIENT = {
    torch.float32: Tolerance(atol=1e-4, rtol=1e-4),
    torch.float64: Tolerance(atol=1e-10, rtol=1e-10),
    torch.float16: _half(torch.float16, 8.0),
    torch.bfloat16: _half(torch.bfloat16, 8.0),
}


#: Up to this many time steps the measured figures apply unchanged (every check but
#: block-boundaries draws at most 8); beyond, atol grows in proportion (see ``_scaled``).
REFERENCE_STEPS = 8


def _scaled(tol: Tolerance, magnitude: float, steps: int = 1) -> Tolerance:
    """atol grown with the case's magnitude (the rounding of a dot product grows with the
    sum of its terms) and with its length past ``REFERENCE_STEPS``: each step adds its own
    rounding to c, and with large weights the recurrence passes it on rather than damping
    it. Measured in the 20-seed sweep: nn.LSTM itself, float32, 129 steps, two
    bidirectional layers with projections and weights x3, was 3.2e-5 from the oracle."""
    factor = max(1.0, magnitude / REFERENCE_MAGNITUDE) * max(1.0, steps / REFERENCE_STEPS)
    return Tolerance(atol=tol.atol * factor, rtol=tol.rtol)


# -- tolerances an implementation declares ------------------------------------------------
#
# An approximate implementation (int8 quantization, fast-math activations) may declare the
# tolerance it is to be judged by, for every dtype or per dtype:
#
#     lstm_conformance_tolerance = {"atol": 2e-2, "rtol": 1e-2}
#     lstm_conformance_tolerance = {"float32": {"atol": 2e-2, "rtol": 1e-2}}
#
# While its checks run, the declared figures replace the tolerances of comparisons with a
# reference (the oracle, a closed form, nn.LSTM, the float64 gradients: ``accuracy`` and
# ``gradient``), grown with the case's magnitude like the policy's own. Relations between
# two runs of the implementation itself (batch independence, causality, a split sequence:
# ``forward``) keep the dtype's policy: an approximation of the LSTM must still be an
# LSTM, and int8 activation scales computed over the whole batch or sequence are exactly
# what those relations exist to show. Exact comparisons stay exact. Such an implementation
# can be at most "approximate".

TOLERANCE_ATTRIBUTE = "lstm_conformance_tolerance"
_DTYPE_NAMES = {"float32": torch.float32, "float64": torch.float64,
                "float16": torch.float16, "bfloat16": torch.bfloat16}
_declared: contextvars.ContextVar[Mapping[torch.dtype, Tolerance] | None] = \
    contextvars.ContextVar("declared_tolerance", default=None)


def declared_tolerance(target: object) -> dict[torch.dtype, Tolerance] | None:
    """The tolerance ``target`` declares, per dtype, or None; a malformed one is a
    ``ValueError`` that says what is expected."""
    raw = getattr(target, TOLERANCE_ATTRIBUTE, None)
    if raw is None:
        return None

    def one(spec: object, where: str) -> Tolerance:
        if not isinstance(spec, Mapping) or set(spec) != {"atol", "rtol"}:
            raise ValueError(f"{TOLERANCE_ATTRIBUTE}{where} must be {{'atol': float, 'rtol': "
                             f"float}}, got {spec!r}")
        atol, rtol = float(spec["atol"]), float(spec["rtol"])
        if not (atol >= 0 and rtol >= 0):
            raise ValueError(f"{TOLERANCE_ATTRIBUTE}{where}: atol and rtol must be >= 0")
        return Tolerance(atol=atol, rtol=rtol)

    if isinstance(raw, Mapping) and set(raw) == {"atol", "rtol"}:
        figure = one(raw, "")
        return dict.fromkeys(_DTYPE_NAMES.values(), figure)
    if not isinstance(raw, Mapping) or not set(raw) <= set(_DTYPE_NAMES):
        raise ValueError(f"{TOLERANCE_ATTRIBUTE} must map dtype names ({sorted(_DTYPE_NAMES)}) "
                         f"to {{'atol', 'rtol'}}, or be one {{'atol', 'rtol'}}; got {raw!r}")
    return {_DTYPE_NAMES[name]: one(spec, f"[{name!r}]") for name, spec in raw.items()}


@contextlib.contextmanager
def declared(tolerances: Mapping[torch.dtype, Tolerance] | None) -> Iterator[None]:
    """Within the block, ``forward`` and ``gradient`` give the declared figures where an
    implementation declared them for the dtype."""
    token = _declared.set(tolerances)
    try:
        yield
    finally:
        _declared.reset(token)


def is_declared(dtype: torch.dtype) -> bool:
    """Whether the implementation whose checks run declared its own figures for ``dtype``."""
    mine = _declared.get()
    return bool(mine) and dtype in mine


def _policy(table: Mapping[torch.dtype, Tolerance], dtype: torch.dtype) -> Tolerance:
    return _declared.get()[dtype] if is_declared(dtype) else table[dtype]


def forward(dtype: torch.dtype, magnitude: float = 1.0, steps: int = 1) -> Tolerance:
    """For two runs of the implementation that differ only by rounding (other GEMM shapes,
    strides, a split batch or sequence); ``magnitude`` and ``steps`` are the case's
    (``Case.magnitude``, ``Case.seq_len``)."""
    return _scaled(_FORWARD[dtype], magnitude, steps)


def accuracy(dtype: torch.dtype, magnitude: float = 1.0, steps: int = 1) -> Tolerance:
    """For the implementation against a reference: the oracle, a closed form, nn.LSTM.
    The dtype's policy, or the figures the implementation declares."""
    return _scaled(_policy(_FORWARD, dtype), magnitude, steps)


def gradient(dtype: torch.dtype, magnitude: float = 1.0, steps: int = 1) -> Tolerance:
    """For gradients against the float64 reference."""
    return _scaled(_policy(_GRADIENT, dtype), magnitude, steps)


#: The largest |x| of the unit-scale inputs the gradient figures were measured on (a few
#: hundred N(0, 1) draws reach about 4).
REFERENCE_INPUT = 4.0


def input_weight_gradient(tol: Tolerance, input_max: float) -> Tolerance:
    """``tol`` (a ``gradient``) for the gradient of layer 0's input weights, ``weight_ih_l0``
    (and ``_reverse``). Each of its elements is a sum over steps and batch of
    delta[t, b, i] * x[t, b, j], so its rounding grows with |x|, which the case's magnitude
    (of the pre-activations, W_ih x) does not follow: with saturating inputs (x100) and
    small weights nn.LSTM itself erred by 1.1 times the unscaled figure (thorough profile,
    seed 21). atol grows with the input's largest |x| past ``REFERENCE_INPUT``
    (docs/TOLERANCES.md, "Gradients of the input weights")."""
    return Tolerance(atol=tol.atol * max(1.0, input_max / REFERENCE_INPUT), rtol=tol.rtol)
