"""PyTorch's quantizable LSTM (``torch.ao.nn.quantizable.LSTM``), in float, as an
lstm-conformance drop-in: ``quantizable``.

The quantizable LSTM is the module eager-mode static quantization observes and converts:
an LSTM built from ``nn.Linear`` gates and ``FloatFunctional`` operations, computing in
float until it is converted. It has several defects at once for the suite to tell apart
(no float64 or half precision, no packed or unbatched input; pytorch/pytorch#89357, the
backward direction of layers >= 2, was not seen with torch 2.13).

What the adapter does, and no more: it holds float parameters under ``nn.LSTM``'s names,
so ``load_state_dict`` and ``state_dict`` behave as on ``nn.LSTM``, and on each call it
builds the quantizable module from them with torch's own per-layer conversion
(``_LSTMLayer.from_float``, what ``quantizable.LSTM.from_float`` does before it prepares
for observation) and calls it with the caller's input and ``hx`` unchanged. Declared gaps:
``proj_size`` (the quantizable LSTM has none) and ``autograd`` (gradients reach the
module built for the call, not the held parameters).
"""

from __future__ import annotations

from torch import nn
from torch.ao.nn.quantizable.modules.rnn import LSTM as _Quantizable
from torch.ao.nn.quantizable.modules.rnn import _LSTMLayer
from torch.ao.quantization import default_qconfig

__all__ = ["QuantizableLSTM"]


class QuantizableLSTM(nn.LSTM):
    lstm_conformance_unsupported = frozenset({"proj_size", "autograd"})
    lstm_conformance_framework = "torch"

    def quantizable(self) -> _Quantizable:
        """The quantizable module with this module's weights, in this module's mode."""
        module = _Quantizable(self.input_size, self.hidden_size, self.num_layers, self.bias,
                              self.batch_first, self.dropout, self.bidirectional)
        for idx in range(self.num_layers):
            module.layers[idx] = _LSTMLayer.from_float(self, idx, default_qconfig,
                                                           batch_first=False)
        return module.train(self.training)

    def forward(self, input, hx=None):
        return self.quantizable()(input, hx)
