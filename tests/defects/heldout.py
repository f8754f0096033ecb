"""Held-out seeded defects: bugs the hint rules were never written or tuned against.

``tests/measure_hints.py`` reports the top hint's accuracy on these separately from the
defects the rules were tuned on (``DEFECTS``): that is the figure that says how the hints
do on the next bug (docs/HINTS.md). They were written before the evidence-based rules of
``conformance/hints.py`` and measured once those were frozen; a rule changed after looking
at their results would make them in-sample, so such a change moves the defect to
``DEFECTS`` instead (and says so in docs/HINTS.md).

Each is one realistic slip of a hand-written LSTM, a variant of a known class (``hint``)
that no tuning defect has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ReferenceLSTM


class BackwardHnFromForwardHalf(ReferenceLSTM):
    """The backward h_n is read from the output's first step, but its forward half.

    Bug: ``h_n[1] = output[0, :, :H]`` (the slice of the wrong half). Output exact.
    """

    hint = "backward-direction"

    def direction(self, layer, suffix, x, h0, c0, lengths):
        out, h_n, c_n = super().direction(layer, suffix, x, h0, c0, lengths)
        self._forward_out = out if suffix == "" else self._forward_out
        if suffix == "_reverse" and lengths is None:
            h_n = self._forward_out[0]
        return out, h_n, c_n


class GatesReadIcfo(ReferenceLSTM):
    """The row blocks are read as TensorFlow's LSTMBlockCell order (i, c, f, o).

    Bug: weights exported from one framework, gates sliced in another's order.
    """

    hint = "gate-order"

    def gates(self, z):
        i, g, f, o = z.chunk(4, dim=-1)
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


class SigmoidCandidate(ReferenceLSTM):
    """The candidate g gets a sigmoid instead of tanh (every gate through one activation).

    Bug: ``torch.sigmoid(z).chunk(4)`` applied to all four blocks.
    """

    hint = "gate-order"

    def gates(self, z):
        i, f, g, o = torch.sigmoid(z).chunk(4, dim=-1)
        return i, f, g, o


class OutputGateOnCellDirectly(ReferenceLSTM):
    """h = o * c: the tanh on the cell state is missing (its output is unbounded).

    Bug: a missing ``tanh`` in ``hidden``; the variant on the cell of NoTanhOnCell.
    """

    hint = "missing-tanh"

    def hidden(self, o, c):
        return o * c


class StatesLayersReversed(ReferenceLSTM):
    """h_n and c_n rows come top layer first.

    Bug: states stacked while walking the layers downwards (``reversed(rows)``).
    """

    hint = "stacked-layers"

    def assemble_states(self, h_rows, c_rows):
        D = self.config.num_directions
        order = [k * D + d for k in reversed(range(self.config.num_layers)) for d in range(D)]
        return torch.stack([h_rows[i] for i in order]), torch.stack([c_rows[i] for i in order])


class CellStateFromFirstStep(ReferenceLSTM):
    """c_n is the cell state after the first step, not the last.

    Bug: ``cs[1]`` where ``cs[-1]`` was meant; h_n right.
    """

    hint = "state-carry"

    def final_states(self, hs, cs, lengths):
        h_n, _ = super().final_states(hs, cs, lengths)
        return h_n, cs[1]


class PackedOutputNotMasked(ReferenceLSTM):
    """Packed input: the steps past each sequence's end are run, and both the output and
    the states come from the padded end (the lengths are used only to pad).

    Bug: a framework ignoring the lengths of a PackedSequence.
    """

    hint = "packed"

    def final_states(self, hs, cs, lengths):
        return hs[-1], cs[-1]

    def reverse_input(self, x, lengths):
        return x.flip(0)

    def reverse_output(self, out, lengths):
        return out.flip(0)


class Float64AtFloat32(ReferenceLSTM):
    """float64 weights and input are computed in float32, and the result cast back.

    Bug: a kernel with only a float32 path (the real case of issue 20: float64 at float32
    accuracy, 1000x the float64 tolerance).
    """

    hint = "precision"

    def scan(self, x, h, c, w):
        if x.dtype != torch.float64:
            return super().scan(x, h, c, w)
        low = {k: None if v is None else v.float() for k, v in w.items()}
        outs, hs, cs = super().scan(x.float(), h.float(), c.float(), low)
        return ([o.double() for o in outs], [s.double() for s in hs],
                [s.double() for s in cs])


class BatchFirstOutputNotTransposed(ReferenceLSTM):
    """With batch_first=True the output comes back seq-first (L, N, H).

    Bug: the input is transposed on the way in, the output is not transposed back.
    """

    hint = "batch-first"

    def canonical(self, input, hx):
        x, hx, lengths, restore = super().canonical(input, hx)
        if not (self.config.batch_first and isinstance(input, torch.Tensor)
                and input.dim() == 3):
            return x, hx, lengths, restore
        return x, hx, lengths, lambda out, h_n, c_n: (out, (h_n, c_n))


class UnbatchedStateIgnored(ReferenceLSTM):
    """Unbatched (2-D) input: a given (h0, c0) is ignored and zeros are used.

    Bug: the 2-D path forgets to unsqueeze and pass hx on.
    """

    hint = "unbatched"

    def canonical(self, input, hx):
        x, state, lengths, restore = super().canonical(input, hx)
        if isinstance(input, torch.Tensor) and input.dim() == 2:
            state = None
        return x, state, lengths, restore


class DropoutOnInput(ReferenceLSTM):
    """Dropout is applied to the input of the first layer too (in training mode).

    Bug: ``F.dropout(x)`` before every layer instead of between layers.
    """

    hint = "dropout-placement"

    def layers(self, x, h0, c0, lengths):
        c = self.config
        if c.dropout > 0 and c.num_layers > 1:
            x = F.dropout(x, c.dropout, self.training)
        return super().layers(x, h0, c0, lengths)


class ClipsInputInPlace(ReferenceLSTM):
    """Clips the caller's input to [-1, 1] in place before running.

    Bug: an in-place "normalisation" of the input (``input.clamp_``): the caller's tensor
    changes, and the results are those of the clipped input.
    """

    hint = "mutation"

    def forward(self, input, hx=None):
        if isinstance(input, torch.Tensor):
            with torch.no_grad():
                input.clamp_(-1.0, 1.0)
        return super().forward(input, hx)


class CellStateDetached(ReferenceLSTM):
    """Detaches the cell state between steps: no gradient flows through c.

    Bug: ``c.detach()`` left from a truncated-BPTT experiment; forward values exact.
    """

    hint = "backward-pass"

    def cell(self, c, i, f, g):
        return f * c.detach() + i * g


class HxNoneCellOnes(ReferenceLSTM):
    """hx=None means h0 = 0 but c0 = 1.

    Bug: ``torch.ones`` typed where ``torch.zeros`` was meant, for the cell state only.
    """

    hint = "hx-default"

    def initial_state(self, x, hx):
        h0, c0 = super().initial_state(x, hx)
        return (h0, torch.ones_like(c0)) if hx is None else (h0, c0)


class InputSizeMismatchPadded(ReferenceLSTM):
    """An input with the wrong feature size is zero-padded or cut to input_size instead of
    raising.

    Bug: a "forgiving" input adapter; nn.LSTM raises RuntimeError.
    """

    hint = "input-validation"

    def canonical(self, input, hx):
        want = self.config.input_size
        if isinstance(input, torch.Tensor) and input.dim() in (2, 3) and input.size(-1) != want:
            have = input.size(-1)
            input = input[..., :want] if have > want else F.pad(input, (0, want - have))
        return super().canonical(input, hx)


#: The held-out part of the hint measurement (``tests/measure_hints.py --part heldout``).
HELDOUT = (BackwardHnFromForwardHalf, GatesReadIcfo, SigmoidCandidate,
           OutputGateOnCellDirectly, StatesLayersReversed, CellStateFromFirstStep,
           PackedOutputNotMasked, Float64AtFloat32, BatchFirstOutputNotTransposed,
           UnbatchedStateIgnored, DropoutOnInput, ClipsInputInPlace, CellStateDetached,
           HxNoneCellOnes, InputSizeMismatchPadded)
