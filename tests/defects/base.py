"""``ReferenceLSTM``: a plain, correct, pure-torch drop-in ``nn.LSTM``, built from small hooks.

It is the unmutated baseline of the seeded defects: every defect in this package is a
subclass that overrides exactly one hook with a realistic bug. The reference itself must
pass every invariant (``tests/test_seeded_defects.py`` checks that), so a defect's
failure is due to its bug and nothing else.

The forward pass, hook by hook::

    canonical(input, hx)        nn.LSTM's input checks; seq-first x (L, N, I), hx, lengths,
                                and restore() back to the caller's layout
    initial_state(x, hx)        (h0 (D*nl, N, H_out), c0 (D*nl, N, H)); zeros for hx=None
    layers(x, h0, c0, lengths)  for each layer k and direction d:
      layer_state(h0, c0, k, d)   the state rows of layer k, direction d: row k*D + d
      direction(k, s, x, ...)     one layer, one direction (s = "" or "_reverse"):
        weights(k, s)               W_ih, W_hh, b_ih, b_hh, W_hr of that layer/direction
        reverse_input(x, lengths)   backward: each sequence reversed within its length
        scan(x, h, c, w)            the recurrence, step by step:
          preactivation(x_t, h, w)    z = W_ih x_t + b_ih + W_hh h + b_hh
          gates(z)                    (i, f, g, o) = (sig, sig, tanh, sig) of the row blocks
          cell(c, i, f, g)            c' = f*c + i*g
          hidden(o, c)                h' = o*tanh(c')
          project(h, w_hr)            W_hr h' (proj_size > 0)
          recurrent(h, h_cell)        what feeds the next step: the projected h
        final_states(hs, cs, lengths) h_n, c_n at each sequence's true last step
        reverse_output(out, lengths)  backward: the output re-aligned to time
        mask_padding(out, lengths)    zeros past each sequence's end
      combine(halves)             layer output: cat(forward, backward)
      between_layers(x, k)        dropout, training only, never after the last layer
      assemble_states(hs, cs)     h_n, c_n rows stacked layer-major (k*D + d)
    restore(out, h_n, c_n)      back to batch-first / unbatched / PackedSequence

Packed input is run padded (``spec.layout.canonical`` pads it in the caller's batch
order): the steps past a sequence's end run on padding, but their results are never
used: h_n/c_n are gathered at step ``len_b`` and the output is zeroed there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.layout import canonical


def reverse_padded(x: torch.Tensor, lengths: list[int] | None) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays at the end.

    ``x`` is (L, N, ...). Applying it twice gives ``x`` back.
    """
    if lengths is None:
        return x.flip(0)
    L = x.shape[0]
    t = torch.arange(L, device=x.device).unsqueeze(1)  # (L, 1)
    n = torch.as_tensor(lengths, device=x.device).unsqueeze(0)  # (1, N)
    index = torch.where(t < n, n - 1 - t, t)  # (L, N)
    index = index.view(L, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)


class ReferenceLSTM(nn.Module):
    """A drop-in ``nn.LSTM`` written out with torch ops; correct and autograd-capable."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.config = LSTMConfig(input_size, hidden_size, num_layers, bias, batch_first,
                                 dropout, bidirectional, proj_size)
        bound = 1.0 / math.sqrt(hidden_size)
        for name, shape in self.config.param_shapes().items():
            param = torch.empty(shape, device=device, dtype=dtype).uniform_(-bound, bound)
            self.register_parameter(name, nn.Parameter(param))

    # -- the forward pass ----------------------------------------------------------------

    def forward(self, input, hx=None):
        x, hx, lengths, restore = self.canonical(input, hx)
        h0, c0 = self.initial_state(x, hx)
        output, h_n, c_n = self.layers(x, h0, c0, lengths)
        return restore(output, h_n, c_n)

    def canonical(self, input, hx):
        """nn.LSTM's checks and layout: (x (L, N, I), hx or None, lengths or None, restore)."""
        return canonical(self.config, input, hx, self.weight_ih_l0.dtype)

    def initial_state(self, x: torch.Tensor, hx):
        """(h0, c0) for every layer and direction: the caller's, or zeros."""
        if hx is not None:
            return hx[0], hx[1]
        c = self.config
        N = x.shape[1]
        h0 = x.new_zeros(c.state_rows, N, c.h_out)
        c0 = x.new_zeros(c.state_rows, N, c.hidden_size)
        return h0, c0

    def layers(self, x, h0, c0, lengths):
        """Every layer, bottom to top; returns (output, h_n, c_n)."""
        c = self.config
        h_rows, c_rows = [], []
        for layer in range(c.num_layers):
            halves = []
            for d, suffix in enumerate(c.suffixes()):
                h, cell = self.layer_state(h0, c0, layer, d)
                out, h_n, c_n = self.direction(layer, suffix, x, h, cell, lengths)
                halves.append(out)
                h_rows.append(h_n)
                c_rows.append(c_n)
            x = self.between_layers(self.combine(halves), layer)
        h_n, c_n = self.assemble_states(h_rows, c_rows)
        return x, h_n, c_n

    def layer_state(self, h0, c0, layer: int, d: int):
        """Layer ``layer``, direction ``d``'s initial state: row ``layer*D + d``."""
        row = layer * self.config.num_directions + d
        return h0[row], c0[row]

    def direction(self, layer: int, suffix: str, x, h0, c0, lengths):
        """One layer, one direction. x: (L, N, In); returns (out (L, N, H_out), h_n, c_n)."""
        w = self.weights(layer, suffix)
        backward = suffix == "_reverse"
        if backward:
            x = self.reverse_input(x, lengths)
        outs, hs, cs = self.scan(x, h0, c0, w)
        h_n, c_n = self.final_states(hs, cs, lengths)
        out = torch.stack(outs)
        if backward:
            out = self.reverse_output(out, lengths)
        return self.mask_padding(out, lengths), h_n, c_n

    def weights(self, layer: int, suffix: str) -> dict:
        name = f"l{layer}{suffix}"
        return {
            "w_ih": getattr(self, f"weight_ih_{name}"),
            "w_hh": getattr(self, f"weight_hh_{name}"),
            "b_ih": getattr(self, f"bias_ih_{name}", None),
            "b_hh": getattr(self, f"bias_hh_{name}", None),
            "w_hr": getattr(self, f"weight_hr_{name}", None),
        }

    def reverse_input(self, x, lengths):
        return reverse_padded(x, lengths)

    def reverse_output(self, out, lengths):
        return reverse_padded(out, lengths)

    def scan(self, x, h, c, w):
        """Run the recurrence over every step of x. Returns the outputs (L of them) and the
        states before and after each step (L + 1 of them: hs[0] is h0)."""
        outs, hs, cs = [], [h], [c]
        for t in range(x.shape[0]):
            z = self.preactivation(x[t], h, w)
            i, f, g, o = self.gates(z)
            c = self.cell(c, i, f, g)
            h_cell = self.hidden(o, c)
            out = self.project(h_cell, w["w_hr"])
            h = self.recurrent(out, h_cell)
            outs.append(out)
            hs.append(out)
            cs.append(c)
        return outs, hs, cs

    # -- one step ------------------------------------------------------------------------

    def preactivation(self, x_t, h, w):
        """z = W_ih x_t + b_ih + W_hh h + b_hh: (N, 4H)."""
        return F.linear(x_t, w["w_ih"], w["b_ih"]) + F.linear(h, w["w_hh"], w["b_hh"])

    def gates(self, z):
        """(i, f, g, o) from torch's row blocks [i | f | g | o]."""
        i, f, g, o = z.chunk(4, dim=-1)
        return self.sigmoid(i), self.sigmoid(f), self.tanh(g), self.sigmoid(o)

    def cell(self, c, i, f, g):
        return f * c + i * g

    def hidden(self, o, c):
        return o * self.tanh(c)

    def project(self, h, w_hr):
        return h if w_hr is None else F.linear(h, w_hr)

    def recurrent(self, out, h_cell):
        """The h that the next step reads: the (projected) output."""
        return out

    def sigmoid(self, z):
        return torch.sigmoid(z)

    def tanh(self, z):
        return torch.tanh(z)

    # -- states, padding and layers ------------------------------------------------------

    def final_states(self, hs, cs, lengths):
        """h_n, c_n: the state after each sequence's last true step (step len_b)."""
        if lengths is None:
            return hs[-1], cs[-1]
        index = torch.as_tensor(lengths, device=hs[0].device)
        batch = torch.arange(len(lengths), device=hs[0].device)
        return torch.stack(hs)[index, batch], torch.stack(cs)[index, batch]

    def mask_padding(self, out, lengths):
        """Zero the output past each sequence's end (what pad_packed_sequence shows)."""
        if lengths is None:
            return out
        t = torch.arange(out.shape[0], device=out.device).unsqueeze(1)
        valid = t < torch.as_tensor(lengths, device=out.device).unsqueeze(0)
        return out.masked_fill(~valid.unsqueeze(-1), 0.0)

    def combine(self, halves):
        """A layer's output: cat(forward, backward) on the feature dimension."""
        return torch.cat(halves, dim=-1)

    def between_layers(self, x, layer: int):
        """Dropout on every layer's output except the last, in training only."""
        c = self.config
        if layer < c.num_layers - 1 and c.dropout > 0:
            return F.dropout(x, c.dropout, self.training)
        return x

    def assemble_states(self, h_rows, c_rows):
        """h_n, c_n: the rows in the order they were produced, layer-major (k*D + d)."""
        return torch.stack(h_rows), torch.stack(c_rows)
