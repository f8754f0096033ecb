"""Defects in one step's equations: gate order, activations, biases, projection."""

from __future__ import annotations

from .base import ReferenceLSTM
from .declare import (
    CELL_STATE,
    CONTINUATION,
    GATE_PROBE,
    GRADIENTS,
    ORACLE,
    ZERO_WEIGHTS,
    Caught,
    on,
)


class SwappedForgetCandidate(ReferenceLSTM):
    """Reads the forget gate from the g block and the candidate from the f block.

    Bug: ``i, g, f, o = z.chunk(4)``, two gate blocks swapped (real: NX-AI/xlstm#98,
    input and forget gates swapped). The swap is consistent, so every metamorphic check
    still holds. Caught by gate-probe, matches-oracle and gradients only.
    """

    catches = {
        "gate-probe": GATE_PROBE,
        "matches-oracle": ORACLE,
        "gradients": GRADIENTS,
    }
    hint = "gate-order"

    def gates(self, z):
        i, g, f, o = z.chunk(4, dim=-1)
        return self.sigmoid(i), self.sigmoid(f), self.tanh(g), self.sigmoid(o)


class OnnxGateOrder(ReferenceLSTM):
    """Reads torch's [i | f | g | o] rows as ONNX's [i | o | f | c].

    Bug: a converter that keeps ONNX's gate order (real: CrispStrobe/CrispASR#106).
    Caught by gate-probe, cell-state-consistency (h_n is no longer sigmoid(z_o) tanh(c_n)
    with torch's z_o), matches-oracle and gradients.
    """

    catches = {
        "gate-probe": GATE_PROBE,
        "cell-state-consistency": CELL_STATE,
        "matches-oracle": ORACLE,
    }
    hint = "gate-order"

    def gates(self, z):
        i, o, f, g = z.chunk(4, dim=-1)
        return self.sigmoid(i), self.sigmoid(f), self.tanh(g), self.sigmoid(o)


class TanhOutputGate(ReferenceLSTM):
    """The output gate uses tanh instead of sigmoid.

    Bug: ``o = tanh(z_o)``, an activation slip. Caught by gate-probe, zero-weights
    (sigmoid(0) = 1/2 but tanh(0) = 0), cell-state-consistency, matches-oracle, gradients.
    """

    catches = {
        "gate-probe": GATE_PROBE,
        "zero-weights": ZERO_WEIGHTS,
        "cell-state-consistency": CELL_STATE,
        "matches-oracle": ORACLE,
    }
    hint = "gate-order"

    def gates(self, z):
        i, f, g, o = z.chunk(4, dim=-1)
        return self.sigmoid(i), self.sigmoid(f), self.tanh(g), self.tanh(o)


class NoTanhOnCell(ReferenceLSTM):
    """h = o * c: the tanh on the cell state is missing.

    Bug: a transcription slip of ``h = o * tanh(c)``; |h| is no longer bounded by 1.
    Caught by bounds, zero-weights, gate-probe, cell-state-consistency, matches-oracle
    and gradients.
    """

    catches = {
        "bounds": Caught(check="bound-h", quantity="h_n[0]"),
        "zero-weights": ZERO_WEIGHTS,
        "gate-probe": GATE_PROBE,
        "cell-state-consistency": CELL_STATE,
        "matches-oracle": ORACLE,
    }
    hint = "missing-tanh"

    def hidden(self, o, c):
        return o * c


class SingleBias(ReferenceLSTM):
    """Only b_ih is used; b_hh is loaded but ignored.

    Bug: a port to a framework with one bias per gate (real: google/flax#3746, Flax's
    LSTMCell has one bias where torch has b_ih and b_hh). Caught by gate-probe (its bias
    is split between b_ih and b_hh), cell-state-consistency, matches-oracle, gradients.
    """

    catches = {
        "gate-probe": GATE_PROBE,
        "cell-state-consistency": CELL_STATE,
        "matches-oracle": ORACLE,
    }
    hint = "gate-order"

    def weights(self, layer, suffix):
        return {**super().weights(layer, suffix), "b_hh": None}


class ForgetBiasPlusOne(ReferenceLSTM):
    """Adds 1 to the forget gate's pre-activation.

    Bug: Keras' ``unit_forget_bias`` / TF's ``forget_bias=1.0`` carried into an
    implementation of torch's LSTM, which has no such term (cf. apache/tvm#3410, the TF
    forget_bias added in the wrong place). Caught by gate-probe, zero-weights,
    matches-oracle and gradients.
    """

    catches = {
        "gate-probe": GATE_PROBE,
        "zero-weights": ZERO_WEIGHTS,
        "matches-oracle": ORACLE,
    }
    hint = "gate-order"

    def gates(self, z):
        i, f, g, o = z.chunk(4, dim=-1)
        return self.sigmoid(i), self.sigmoid(f + 1.0), self.tanh(g), self.sigmoid(o)


class ProjectionRecurrenceSlice(ReferenceLSTM):
    """With proj_size = P, the next step reads h[:P] of the unprojected h, not W_hr h.

    Bug: the recurrence takes the first P features of ``o * tanh(c)`` (the shapes fit,
    so nothing complains); output and h_n are still projected. Caught by
    state-continuation (the carried h_n is W_hr h, which the module itself never feeds
    back), cell-state-consistency (z_o recomputed from
    the previous output), matches-oracle and gradients.
    """

    catches = {
        "state-continuation": on(CONTINUATION, case={"proj_size": 1}),
        "cell-state-consistency": CELL_STATE,
        "matches-oracle": ORACLE,
    }
    hint = "state-carry"

    def recurrent(self, out, h_cell):
        P = self.config.proj_size
        return h_cell[..., :P] if P else out
