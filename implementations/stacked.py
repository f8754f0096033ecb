"""``stacked``: the notes' ``StackedLSTM``, a ``ModuleList`` of single-layer ``nn.LSTM``s.

The notes chain one-layer LSTMs, each reading the previous one's output. Grown here to
nn.LSTM's surface: bidirectional (layer k > 0 reads ``cat(forward, backward)``),
projections, an initial state (layer k takes rows ``[k*D, (k+1)*D)`` of h0 and c0),
dropout between layers in training, and every input form each ``nn.LSTM`` layer already
accepts (batch_first, unbatched, PackedSequence). The notes' prints are gone.

``load_state_dict`` takes ``nn.LSTM`` names: ``weight_ih_l{k}{suffix}`` is layer k's
``weight_ih_l0{suffix}`` (a load-state-dict pre-hook renames them).
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.layout import validate_input

_LSTM_NAME = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


class StackedLSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.config = LSTMConfig(input_size, hidden_size, num_layers, bias, batch_first,
                                 dropout, bidirectional, proj_size)
        self.lstm_layers = nn.ModuleList()
        for _ in range(num_layers):
            self.lstm_layers.append(nn.LSTM(
                input_size, hidden_size, bias=bias, batch_first=batch_first,
                bidirectional=bidirectional, proj_size=proj_size, device=device, dtype=dtype,
            ))
            input_size = self.config.num_directions * self.config.h_out
        self._register_load_state_dict_pre_hook(self._rename_lstm_keys)
        self.register_state_dict_post_hook(self._lstm_keys)
        self.register_load_state_dict_post_hook(self._report_lstm_keys)

    @staticmethod
    def _lstm_name(name: str) -> str:
        """``lstm_layers.1.weight_ih_l0_reverse`` -> ``weight_ih_l1_reverse``."""
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "lstm_layers":
            return parts[2].replace("_l0", f"_l{parts[1]}")
        return name

    @classmethod
    def _report_lstm_keys(cls, module, incompatible_keys):
        """load_state_dict(strict=False) names the keys as nn.LSTM would."""
        for keys in (incompatible_keys.missing_keys, incompatible_keys.unexpected_keys):
            keys[:] = [cls._lstm_name(k) for k in keys]

    @staticmethod
    def _lstm_keys(module, state_dict, prefix, local_metadata):
        """``lstm_layers.1.weight_ih_l0_reverse`` -> ``weight_ih_l1_reverse``: what it saves
        loads into nn.LSTM, as what nn.LSTM saves loads into it."""
        for key in list(state_dict):
            if key.startswith(prefix + "lstm_layers."):
                state_dict[prefix + StackedLSTM._lstm_name(key[len(prefix):])] = \
                    state_dict.pop(key)

    @staticmethod
    def _rename_lstm_keys(state_dict, prefix, *args):
        """``weight_ih_l1_reverse`` -> ``lstm_layers.1.weight_ih_l0_reverse``."""
        for key in list(state_dict):
            match = _LSTM_NAME.match(key[len(prefix):]) if key.startswith(prefix) else None
            if match:
                name, layer, suffix = match.group(1), match.group(2), match.group(3) or ""
                new = f"{prefix}lstm_layers.{layer}.{name}_l0{suffix}"
                state_dict[new] = state_dict.pop(key)

    def forward(self, x, hx=None):
        cfg = self.config
        if not isinstance(x, PackedSequence):
            validate_input(cfg, x, hx, self.lstm_layers[0].weight_ih_l0.dtype)
        D = cfg.num_directions
        h_n, c_n = [], []
        for i, layer in enumerate(self.lstm_layers):
            state = None if hx is None else (hx[0][i * D:(i + 1) * D], hx[1][i * D:(i + 1) * D])
            x, (h, c) = layer(x, state)
            h_n.append(h)
            c_n.append(c)
            if i < cfg.num_layers - 1 and cfg.dropout > 0 and self.training:
                x = self._dropout(x)
        return x, (torch.cat(h_n), torch.cat(c_n))

    def _dropout(self, x):
        if isinstance(x, PackedSequence):
            return x._replace(data=F.dropout(x.data, self.config.dropout, True))
        return F.dropout(x, self.config.dropout, True)
