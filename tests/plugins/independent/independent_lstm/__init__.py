"""``IndependentLSTM``: a drop-in ``torch.nn.LSTM`` written from the LSTM equations alone.

It shares no code with lstm-conformance (no ``spec``, ``conformance`` or
``implementations`` import): it is what a third party would write and register. Written
from the equations and ``nn.LSTM``'s documented behaviour::

    i, f, g, o = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh   (row blocks of 4H, in that order)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)            (then W_hr h_t when proj_size > 0)

Every input form runs on *packed* data: a tensor of the steps' rows one after another,
``batch_sizes[t]`` rows at step t, the longest sequences first. Dense input is the case
where every step has all N rows. At step t only the first ``batch_sizes[t]`` rows are
live; the others keep their state, so the forward direction's state stops at each
sequence's last step and the backward direction starts there, from h0.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

__all__ = ["IndependentLSTM"]


def _check_size(name: str, value, minimum: int = 1) -> None:
    if not isinstance(value, int):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be greater than zero")


class IndependentLSTM(nn.Module):
    """Drop-in ``nn.LSTM``: same constructor, parameter names, call and results."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if (isinstance(dropout, bool) or not isinstance(dropout, numbers.Number)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            _check_size(name, value)
        for name, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), proj_size
        self.directions = 2 if bidirectional else 1
        self.h_out = proj_size or hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        for k in range(num_layers):
            for suffix in ("", "_reverse")[: self.directions]:
                width = input_size if k == 0 else self.directions * self.h_out
                shapes = [(f"weight_ih_l{k}{suffix}", (4 * hidden_size, width)),
                          (f"weight_hh_l{k}{suffix}", (4 * hidden_size, self.h_out))]
                if bias:
                    shapes += [(f"bias_ih_l{k}{suffix}", (4 * hidden_size,)),
                               (f"bias_hh_l{k}{suffix}", (4 * hidden_size,))]
                if proj_size:
                    shapes.append((f"weight_hr_l{k}{suffix}", (proj_size, hidden_size)))
                for name, shape in shapes:
                    weight = torch.empty(shape, device=device, dtype=dtype)
                    self.register_parameter(name, nn.Parameter(weight.uniform_(-bound, bound)))

    # -- the call ------------------------------------------------------------------------

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        return self._forward_dense(input, hx)

    def _forward_dense(self, input: torch.Tensor, hx):
        if input.dim() not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead")
        batched = input.dim() == 3
        if not batched:
            x = input.unsqueeze(1)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        steps, n = x.shape[0], x.shape[1]
        if hx is not None:
            if len(hx) != 2:
                raise RuntimeError("lstm expects two hidden states")
            want = 3 if batched else 2
            if hx[0].dim() != want or hx[1].dim() != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but "
                                   f"got ({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
            if not batched:
                hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        dtype = self.weight_ih_l0.dtype
        if x.dtype != dtype:
            raise ValueError(f"RNN input dtype ({x.dtype}) does not match weight dtype "
                             f"({dtype}). Convert input: input.to({dtype}), or convert model: "
                             f"model.to({x.dtype})")
        if x.size(-1) != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.size(-1)}")
        if hx is not None:
            rows = self.num_layers * self.directions
            for k, (state, size) in enumerate(zip(hx, (self.h_out, self.hidden_size),
                                                  strict=True)):
                expected = (rows, n, size)
                if tuple(state.shape) != expected:
                    raise RuntimeError(f"Expected hidden[{k}] size {expected}, "
                                       f"got {list(state.shape)}")
        if steps == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        h0, c0 = hx if hx is not None else self._zeros(n, x)
        data = x.reshape(steps * n, x.shape[-1])
        out, h_n, c_n = self._run(data, [n] * steps, h0, c0)
        out = out.reshape(steps, n, out.shape[-1])
        if not batched:
            return out.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, (h_n, c_n)

    def _forward_packed(self, input: PackedSequence, hx):
        data, batch_sizes, sorted_indices, unsorted_indices = input
        n = int(batch_sizes[0])
        if hx is None:
            h0, c0 = self._zeros(n, data)
        else:  # hx comes in the caller's batch order; the packed rows are sorted
            h0, c0 = hx
            if sorted_indices is not None:
                h0, c0 = h0.index_select(1, sorted_indices), c0.index_select(1, sorted_indices)
        out, h_n, c_n = self._run(data, batch_sizes.tolist(), h0, c0)
        if unsorted_indices is not None:
            h_n, c_n = h_n.index_select(1, unsorted_indices), c_n.index_select(1, unsorted_indices)
        return PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices), (h_n, c_n)

    def _zeros(self, n: int, like: torch.Tensor):
        rows = self.num_layers * self.directions
        return (like.new_zeros(rows, n, self.h_out), like.new_zeros(rows, n, self.hidden_size))

    # -- the recurrence --------------------------------------------------------------------

    def _run(self, data, batch_sizes: list[int], h0, c0):
        """All layers on packed ``data``; returns (top layer's data, h_n, c_n)."""
        h_n, c_n = [], []
        x = data
        for k in range(self.num_layers):
            if k > 0:
                x = self._between_layers(x)
            halves = []
            for d in range(self.directions):
                row = k * self.directions + d
                out, h, c = self._direction(x, batch_sizes, h0[row], c0[row], k, d)
                halves.append(out)
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(halves, dim=1) if len(halves) > 1 else halves[0]
        return x, torch.stack(h_n), torch.stack(c_n)

    def _between_layers(self, x):
        """Dropout on a layer's input from the layer below: training only."""
        if self.dropout > 0 and self.training:
            return F.dropout(x, self.dropout, training=True)
        return x

    def _direction(self, x, batch_sizes: list[int], h, c, layer: int, direction: int):
        suffix = "_reverse" if direction else ""
        w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        w_hr = getattr(self, f"weight_hr_l{layer}{suffix}") if self.proj_size else None
        z_x = x @ getattr(self, f"weight_ih_l{layer}{suffix}").T
        if self.bias:
            z_x = z_x + getattr(self, f"bias_ih_l{layer}{suffix}")
            z_x = z_x + getattr(self, f"bias_hh_l{layer}{suffix}")
        per_step = list(torch.split(z_x, batch_sizes))
        times = range(len(per_step))
        outs = [None] * len(per_step)
        for t in (reversed(times) if direction else times):
            live = per_step[t].shape[0]
            z = per_step[t] + h[:live] @ w_hh.T
            h_t, c_t = self._cell(z, c[:live], w_hr)
            outs[t] = h_t
            h = torch.cat([h_t, h[live:]])
            c = torch.cat([c_t, c[live:]])
        return torch.cat(outs), h, c

    def _gates(self, z):
        """(input, forget, candidate, output) pre-activations: row blocks i, f, g, o."""
        return z.chunk(4, dim=1)

    def _cell(self, z, c, w_hr):
        i, f, g, o = self._gates(z)
        c_t = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_t = torch.sigmoid(o) * torch.tanh(c_t)
        if w_hr is not None:
            h_t = h_t @ w_hr.T
        return h_t, c_t
