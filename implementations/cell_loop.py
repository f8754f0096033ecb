"""``cell-loop``: the notes' manual loop over ``nn.LSTMCell``, grown to nn.LSTM's surface.

The notes feed ``x[t]`` to an ``nn.LSTMCell`` one step at a time and stack the hidden
states. Here the same loop runs for every layer and direction (the backward direction
walks t from L-1 down to 0 and writes its h_t at time t), with batch_first, unbatched
and packed input, an initial state, dropout between layers in training, and projections.

``nn.LSTMCell`` has no projection, so with ``proj_size = P > 0`` each step uses an
``LSTMCell(input + P, H)`` whose ``weight_ih`` is ``[W_ih | W_hh]`` and whose ``weight_hh``
is zero, fed ``cat(x_t, h_{t-1})`` with state ``(0, c_{t-1})``; then ``h_t = W_hr h``.

Parameters carry ``nn.LSTM``'s names, so ``load_state_dict`` takes an ``nn.LSTM``
state_dict as it is; the cells run them through ``torch.func.functional_call``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.layout import canonical


class CellLoopLSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.config = c = LSTMConfig(input_size, hidden_size, num_layers, bias, batch_first,
                                     dropout, bidirectional, proj_size)
        for name, shape in c.param_shapes().items():
            bound = hidden_size ** -0.5
            param = torch.empty(shape, device=device, dtype=dtype).uniform_(-bound, bound)
            self.register_parameter(name, nn.Parameter(param))
        # One cell per layer, kept out of the module tree (a plain tuple): its own
        # parameters are never used, functional_call hands it this module's.
        self.cells = tuple(
            nn.LSTMCell((input_size if layer == 0 else c.num_directions * c.h_out) + proj_size,
                        hidden_size, bias=bias, device="meta")
            for layer in range(num_layers)
        )

    def _cell_params(self, layer: int, suffix: str) -> dict:
        p = {name: getattr(self, f"{name}_l{layer}{suffix}")
             for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
             if hasattr(self, f"{name}_l{layer}{suffix}")}
        if self.config.proj_size:
            p["weight_ih"] = torch.cat([p["weight_ih"], p["weight_hh"]], dim=1)
            p["weight_hh"] = torch.zeros(4 * self.config.hidden_size, self.config.hidden_size,
                                         dtype=p["weight_ih"].dtype, device=p["weight_ih"].device)
        return p

    def _direction(self, layer, suffix, x, h, c, lengths):
        """The notes' loop, for one layer and direction. x: (L, N, In); h, c: (N, ...)."""
        cell, params = self.cells[layer], self._cell_params(layer, suffix)
        w_hr = getattr(self, f"weight_hr_l{layer}{suffix}", None)
        L = x.shape[0]
        steps = range(L) if suffix == "" else range(L - 1, -1, -1)
        output = [None] * L
        for t in steps:
            if w_hr is None:
                h_new, c_new = functional_call(cell, params, (x[t], (h, c)))
            else:
                h_cell, c_new = functional_call(
                    cell, params, (torch.cat([x[t], h], dim=1), (torch.zeros_like(c), c))
                )
                h_new = h_cell @ w_hr.T
            live = (t < lengths).unsqueeze(1)  # packed: sequence b only runs while t < len_b
            h, c = torch.where(live, h_new, h), torch.where(live, c_new, c)
            output[t] = torch.where(live, h_new, torch.zeros_like(h_new))
        return torch.stack(output), h, c

    def forward(self, input, hx=None):
        cfg = self.config
        dtype = self.weight_ih_l0.dtype
        x, hx, lengths, restore = canonical(cfg, input, hx, dtype)
        L, N = x.shape[0], x.shape[1]
        if hx is None:
            zeros = dict(dtype=x.dtype, device=x.device)
            hx = (torch.zeros(cfg.state_rows, N, cfg.h_out, **zeros),
                  torch.zeros(cfg.state_rows, N, cfg.hidden_size, **zeros))
        lengths = torch.tensor(lengths if lengths is not None else [L] * N, device=x.device)
        h_n, c_n = [], []
        for layer in range(cfg.num_layers):
            halves = []
            for d, suffix in enumerate(cfg.suffixes()):
                row = layer * cfg.num_directions + d
                out, h, c = self._direction(layer, suffix, x, hx[0][row], hx[1][row], lengths)
                halves.append(out)
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(halves, dim=2)
            if layer < cfg.num_layers - 1:
                x = F.dropout(x, cfg.dropout, self.training)
        return restore(x, torch.stack(h_n), torch.stack(c_n))
