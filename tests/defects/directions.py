"""Defects of the backward direction and of how the two directions are combined."""

from __future__ import annotations

import torch

from .base import ReferenceLSTM
from .declare import (
    CAUSALITY,
    CELL_STATE,
    FIRST_BACKWARD,
    GATE_PROBE,
    LAST_FORWARD,
    ORACLE,
    PACKED,
    STACKED,
    TIME_REVERSAL,
    Caught,
    on,
)


class BackwardInputNotReversed(ReferenceLSTM):
    """The backward direction reads the input forwards (its output is still flipped).

    Bug: ``go_backwards`` ignored (real: apache/tvm#15176). Caught by time-reversal,
    causality, cell-state-consistency, matches-oracle and gradients. Not by
    first-step-backward: here h_n is the state after the run's last step, which the
    flip puts at o[0], so h_n[top+1] == o[0, :, H_o:] still holds. Not by gate-probe
    either: its input is constant in time.
    """

    catches = {
        "time-reversal": TIME_REVERSAL,
        "causality": CAUSALITY,
        "cell-state-consistency": CELL_STATE,
        "matches-oracle": ORACLE,
    }
    hint = "backward-direction"

    def reverse_input(self, x, lengths):
        return x


class BackwardOutputNotFlipped(ReferenceLSTM):
    """The backward direction's output is left in processing order, not aligned to time.

    Bug: real: onnx/onnx#2881, microsoft/onnxruntime#4187, tensorflow/tensorflow#40345
    (reversed vs time-aligned backward outputs). Caught by first-step-backward,
    time-reversal, causality, matches-oracle and gradients. Not by packed-per-sequence:
    a sequence run alone is misaligned in the same way.
    """

    catches = {
        "first-step-backward": FIRST_BACKWARD,
        "time-reversal": TIME_REVERSAL,
        "causality": CAUSALITY,
        "matches-oracle": ORACLE,
    }
    hint = "backward-direction"

    def reverse_output(self, out, lengths):
        return out


class ReverseUsesForwardWeights(ReferenceLSTM):
    """The backward direction runs with the forward direction's weights.

    Bug: the ``_reverse`` parameters are loaded but never used (cf. NVIDIA/TensorRT#1649,
    Tencent/ncnn#2933: bidirectional backward half wrong). Caught by time-reversal,
    gate-probe (each direction gets its own constants), cell-state-consistency,
    matches-oracle and gradients.
    """

    catches = {
        "time-reversal": TIME_REVERSAL,
        "gate-probe": GATE_PROBE,
        "cell-state-consistency": CELL_STATE,
        "matches-oracle": ORACLE,
    }
    hint = "backward-direction"

    def weights(self, layer, suffix):
        return super().weights(layer, "")


class ReverseUsesForwardProjection(ReferenceLSTM):
    """The backward direction projects with the forward direction's W_hr.

    Bug: one ``weight_hr`` looked up per layer instead of per direction. Caught by
    time-reversal, gate-probe (h = W_hr (...) with each direction's W_hr),
    cell-state-consistency, matches-oracle and gradients.
    """

    catches = {
        "time-reversal": TIME_REVERSAL,
        "gate-probe": GATE_PROBE,
        "matches-oracle": ORACLE,
    }
    hint = "backward-direction"

    def weights(self, layer, suffix):
        w = super().weights(layer, suffix)
        if w["w_hr"] is not None:
            w["w_hr"] = getattr(self, f"weight_hr_l{layer}")
        return w


class BackwardFirstConcat(ReferenceLSTM):
    """Each layer's output is cat(backward, forward) instead of cat(forward, backward).

    Bug: real: pytorch/pytorch#11368 (fixes #10838), ONNX export put the bidirectional
    output's halves in the wrong order. Caught by last-step-forward, first-step-backward,
    time-reversal, matches-oracle and gradients.
    """

    catches = {
        "last-step-forward": LAST_FORWARD,
        "first-step-backward": FIRST_BACKWARD,
        "time-reversal": Caught(check="time-reversal-forward"),
        "matches-oracle": ORACLE,
    }
    hint = "backward-direction"

    def combine(self, halves):
        return super().combine(halves[::-1])


class HnFromLastStepBothDirections(ReferenceLSTM):
    """The backward h_n is read from the output's last time step, like the forward one.

    Bug: ``h_n = output[-1]`` for both directions; the backward direction ends at t = 0,
    not T-1. c_n stays right. Caught by first-step-backward, time-reversal,
    packed-per-sequence, cell-state-consistency, matches-oracle and gradients.
    """

    catches = {
        "first-step-backward": FIRST_BACKWARD,
        "time-reversal": Caught(check="time-reversal-state", tensor="h_n"),
        "packed-per-sequence": on(PACKED, tensor="h_n"),
        "matches-oracle": on(ORACLE, tensor="h_n"),
    }
    hint = "backward-direction"

    def direction(self, layer, suffix, x, h0, c0, lengths):
        out, h_n, c_n = super().direction(layer, suffix, x, h0, c0, lengths)
        if suffix == "_reverse":
            h_n = out[-1]
        return out, h_n, c_n


class UpperLayersIgnoreBackwardHalf(ReferenceLSTM):
    """Layers above the first read only the forward half of the layer below.

    Bug: real: pytorch/pytorch#89357 (quantizable bidirectional LSTM: layers >= 2 take
    input size H instead of 2H); here the backward half is zeroed so that the shapes
    still fit. Caught by stacked-layers, matches-oracle and gradients.
    """

    catches = {
        "stacked-layers": STACKED,
        "matches-oracle": ORACLE,
    }
    hint = "stacked-layers"

    def between_layers(self, x, layer):
        x = super().between_layers(x, layer)
        c = self.config
        if c.bidirectional and layer < c.num_layers - 1:
            x = torch.cat([x[..., :c.h_out], torch.zeros_like(x[..., c.h_out:])], dim=-1)
        return x
