"""The float64 oracle: the LSTM equations, written out once, slowly and plainly.

For one layer and one direction, at each time step t (gate rows of the weights are
ordered i, f, g, o, each block H rows tall)::

    z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh        # (4H,)
    i_t = sigmoid(z_t[0:H])                            # input gate
    f_t = sigmoid(z_t[H:2H])                           # forget gate
    g_t = tanh(z_t[2H:3H])                             # cell candidate
    o_t = sigmoid(z_t[3H:4H])                          # output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
    h_t = W_hr h_t                                     # only when proj_size > 0

The backward direction (suffix ``_reverse``) runs the same equations from t = L-1 down
to t = 0 and writes its h_t at time t. Layer k > 0 reads ``cat(forward_h_t,
backward_h_t)`` of layer k-1. Row ``k*D + d`` of h_n / c_n is layer k, direction d.
With ``lengths``, sequence b only runs over t < lengths[b]: its forward h_n is taken at
t = lengths[b]-1, its backward direction starts there, and output[t >= lengths[b], b]
is zero (what ``pad_packed_sequence`` gives for a ``PackedSequence``).

The same code runs on numpy arrays (the oracle proper, float64) and on float64 torch
tensors (``spec.invariants`` differentiates it for the gradient reference); sigmoid is
written as ``(1 + tanh(z/2)) / 2`` so that neither overflows for any finite z.

Dropout is not part of the oracle: it is random and only applied in training.
``dropout_mask`` lets the numpy-reference implementation apply one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from lstm_conformance.spec.config import LSTMConfig


def _xp(a):
    return torch if isinstance(a, torch.Tensor) else np


def sigmoid(z):
    """Logistic function, without overflow for any finite z."""
    return 0.5 * (1.0 + _xp(z).tanh(0.5 * z))


def _zeros(like, shape):
    if isinstance(like, torch.Tensor):
        return torch.zeros(shape, dtype=torch.float64)
    return np.zeros(shape)


def _direction(config: LSTMConfig, w: Mapping, layer: int, suffix: str, x, h0, c0, lengths):
    """One layer, one direction. x is (L, N, In); returns output (L, N, H_out), h_n, c_n.

    The input projection ``W_ih x_t + b`` does not depend on the recurrence, so it is one
    matrix product over all time steps at once; the recurrence then runs over time for the
    whole batch together. A sequence past its length keeps its (h, c) and outputs zero: for
    the forward direction that leaves h_n at t = lengths[b]-1, and the backward direction,
    running from t = L-1 down, starts at t = lengths[b]-1 from (h0, c0).
    """
    H = config.hidden_size
    name = f"l{layer}{suffix}"
    w_ih, w_hh = w[f"weight_ih_{name}"], w[f"weight_hh_{name}"]
    bias = w[f"bias_ih_{name}"] + w[f"bias_hh_{name}"] if config.bias else 0.0
    w_hr = w[f"weight_hr_{name}"] if config.proj_size > 0 else None
    xp = _xp(x)
    L, N, _ = x.shape
    projected = x @ w_ih.T + bias  # (L, N, 4H)
    ragged = any(n != L for n in lengths)
    if ragged:
        steps_of = xp.arange(L)[:, None] < (torch.tensor(lengths) if xp is torch
                                            else np.asarray(lengths))[None, :]  # (L, N)
    h, c = h0, c0
    outputs = [None] * L
    w_hh_t = w_hh.T
    for t in range(L) if suffix == "" else range(L - 1, -1, -1):
        z = projected[t] + h @ w_hh_t
        # sigmoid over all four blocks at once (the g block's is unused): one call per
        # step instead of three, which is most of the time of a 65,537-step sequence.
        s = sigmoid(z)
        i, f, o = s[:, 0:H], s[:, H : 2 * H], s[:, 3 * H : 4 * H]
        g = xp.tanh(z[:, 2 * H : 3 * H])
        c_new = f * c + i * g
        h_new = o * xp.tanh(c_new)
        if w_hr is not None:
            h_new = h_new @ w_hr.T
        if ragged:
            running = steps_of[t][:, None]
            c = xp.where(running, c_new, c)
            h = xp.where(running, h_new, h)
            outputs[t] = xp.where(running, h_new, _zeros(x, h_new.shape))
        else:
            c, h = c_new, h_new
            outputs[t] = h_new
    return xp.stack(outputs), h, c


def lstm_forward(
    config: LSTMConfig,
    weights: Mapping,
    x,
    hx: tuple | None = None,
    lengths=None,
    dropout_mask: Callable | None = None,
):
    """Run the LSTM equations in float64.

    x: (L, N, input_size), seq-first whatever ``config.batch_first`` says; a numpy array
    (or anything numpy converts), or a float64 torch tensor to differentiate through.
    hx: optional (h0 (D*nl, N, H_out), c0 (D*nl, N, H)); None means zeros.
    lengths: optional true length of each sequence (packed semantics).
    dropout_mask: optional ``f(layer, layer_output) -> multiplier``, applied to the
    output of every layer except the last (the numpy-reference's training mode).

    Returns output (L, N, D*H_out) and h_n (D*nl, N, H_out), c_n (D*nl, N, H).
    """
    if isinstance(x, torch.Tensor):
        xp, cast = torch, (lambda a: a if isinstance(a, torch.Tensor) else torch.as_tensor(a))
    else:
        xp, cast = np, (lambda a: np.asarray(a, dtype=np.float64))
    w = {k: cast(v) for k, v in weights.items()}
    layer_input = cast(x)
    L, N, _ = layer_input.shape
    rows, H, Ho = config.state_rows, config.hidden_size, config.h_out
    if hx is None:
        h0, c0 = _zeros(layer_input, (rows, N, Ho)), _zeros(layer_input, (rows, N, H))
    else:
        h0, c0 = cast(hx[0]), cast(hx[1])
    lengths = [L] * N if lengths is None else [int(n) for n in lengths]
    h_rows, c_rows = [], []
    D = config.num_directions
    for layer in range(config.num_layers):
        halves = []
        for d, suffix in enumerate(config.suffixes()):
            row = layer * D + d
            out, h_n, c_n = _direction(
                config, w, layer, suffix, layer_input, h0[row], c0[row], lengths
            )
            halves.append(out)
            h_rows.append(h_n)
            c_rows.append(c_n)
        cat = torch.cat if xp is torch else np.concatenate
        layer_input = cat(halves, -1)
        if dropout_mask is not None and layer < config.num_layers - 1:
            layer_input = layer_input * dropout_mask(layer, layer_input)
    return layer_input, xp.stack(h_rows), xp.stack(c_rows)
