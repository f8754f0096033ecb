"""A user's LSTM: nn.LSTM without packed input, which it declares, and with one check
declared as a known failure (its reason would name the upstream issue)."""

from torch import nn


class MyLSTM(nn.LSTM):
    lstm_conformance_unsupported = frozenset({"packed"})
    lstm_conformance_known_failures = {
        "bad-input-raises": "raises TypeError for 1-D input (example: my-project#12)",
    }

    def forward(self, input, hx=None):
        if hasattr(input, "batch_sizes"):
            raise NotImplementedError("packed input")
        if input.dim() == 1:
            raise TypeError("MyLSTM needs 2-D or 3-D input")
        return super().forward(input, hx)
