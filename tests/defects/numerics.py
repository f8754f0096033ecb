"""Numerical defects: precision, overflow, and broken gradients."""

from __future__ import annotations

import torch

from .base import ReferenceLSTM
from .declare import GATE_PROBE, GRADIENTS, ORACLE, Caught, on


class ReducedPrecision(ReferenceLSTM):
    """Computes the gate pre-activations in bfloat16, then casts back.

    Bug: a "fast path" in reduced precision (cf. pytorch/pytorch#175830, compiled LSTM
    off by 2.4e-4). Structural checks still hold. Caught by matches-oracle, gradients,
    gate-probe (its biases are rounded) and cell-state-consistency; zero-weights is exact
    in any precision.
    """

    catches = {
        "matches-oracle": on(ORACLE, near_miss=True),
        "gate-probe": GATE_PROBE,
        "gradients": GRADIENTS,
    }
    hint = "precision"

    def preactivation(self, x_t, h, w):
        low = {k: None if v is None else v.to(torch.bfloat16) for k, v in w.items()}
        z = super().preactivation(x_t.to(torch.bfloat16), h.to(torch.bfloat16), low)
        return z.to(x_t.dtype)


class CellStateInFloat16(ReferenceLSTM):
    """Accumulates the cell state in float16 while claiming float32 (and float64).

    Bug: a half-precision accumulator for c (a kernel that keeps its state in registers
    of the narrow type), so c_t = f c_{t-1} + i g is rounded to float16 at every step.
    Caught by matches-oracle (a near miss: the formula is right); cell-state-consistency
    and gate-probe may catch it too, on larger states.
    """

    catches = {"matches-oracle": on(ORACLE, near_miss=True)}
    hint = "precision"

    def cell(self, c, i, f, g):
        return (f.half() * c.half() + i.half() * g.half()).to(c.dtype)


class OverflowingTanh(ReferenceLSTM):
    """tanh written as (exp(2z) - 1) / (exp(2z) + 1): inf / inf = NaN for large z.

    Bug: a textbook formula without the overflow guard; exact enough for small z, but
    exp(2z) overflows for z > 44 in float32 (z > 355 in float64). Caught by the
    harness's finiteness check in any invariant that draws saturating inputs: bounds
    (which draws them most), output-shapes, matches-oracle and most others.
    """

    catches = {
        "bounds": Caught(check="finite", case={"input_scale": "saturating"}),
        "output-shapes": Caught(check="finite", case={"input_scale": "saturating"}),
        "matches-oracle": Caught(check="finite", case={"input_scale": "saturating"}),
    }
    hint = "overflow"

    def tanh(self, z):
        e = torch.exp(2 * z)
        return (e - 1) / (e + 1)


class TruncatedBackprop(ReferenceLSTM):
    """Detaches h between steps: gradients flow through one step of the recurrence only.

    Bug: truncated backpropagation through time left on. Forward values are exact.
    Caught by gradients only.
    """

    catches = {
        "gradients": GRADIENTS,
    }
    hint = "backward-pass"

    def recurrent(self, out, h_cell):
        return out.detach()
