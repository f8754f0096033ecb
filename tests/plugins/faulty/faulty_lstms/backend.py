"""``partial-backend``: a numpy LSTM in lstm-conformance's backend protocol (an object with
``prepare``) that refuses bidirectional configurations with ``NotImplementedError``.

Written from the LSTM equations; seq-first arrays in, (output, h_n, c_n) out, packed
sequences given as true lengths (outputs past a sequence's end are zero, its state stops
at its last step).
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for saturating inputs


class PartialBackend:
    def prepare(self, config, weights, dtype, training):
        if config.bidirectional:
            raise NotImplementedError("partial-backend does not implement bidirectional LSTMs")
        hidden, proj, layers = config.hidden_size, config.proj_size, config.num_layers
        p = config.dropout if training else 0.0
        rng = np.random.default_rng()

        def run(x, hx, lengths):
            steps, n, _ = x.shape
            h_out = proj or hidden
            if hx is None:
                hx = (np.zeros((layers, n, h_out), dtype), np.zeros((layers, n, hidden), dtype))
            if lengths is None:
                lengths = np.full(n, steps)
            live = (np.arange(steps)[:, None] < np.asarray(lengths)[None, :])[..., None]
            inp, h_n, c_n = x, [], []
            for k in range(layers):
                if k > 0 and p > 0:
                    keep = rng.random(inp.shape) >= p
                    inp = np.zeros_like(inp) if p >= 1 else (inp * keep / (1 - p)).astype(dtype)
                w_ih, w_hh = weights[f"weight_ih_l{k}"], weights[f"weight_hh_l{k}"]
                b = (weights[f"bias_ih_l{k}"] + weights[f"bias_hh_l{k}"]) if config.bias else 0
                h, c = hx[0][k], hx[1][k]
                out = np.zeros((steps, n, h_out), dtype)
                for t in range(steps):
                    z = inp[t] @ w_ih.T + h @ w_hh.T + b
                    i, f, g, o = np.split(z, 4, axis=1)
                    c_t = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                    h_t = _sigmoid(o) * np.tanh(c_t)
                    if proj:
                        h_t = h_t @ weights[f"weight_hr_l{k}"].T
                    h = np.where(live[t], h_t, h)
                    c = np.where(live[t], c_t, c)
                    out[t] = np.where(live[t], h_t, 0)
                h_n.append(h)
                c_n.append(c)
                inp = out
            return inp, np.stack(h_n), np.stack(c_n)

        return run


backend = PartialBackend()
