"""``torch-lstm``: ``torch.nn.LSTM`` itself, the behaviour every other implementation must match."""

from torch import nn


class TorchLSTM(nn.LSTM):
    """``nn.LSTM``, unchanged: the suite checks the reference against its own specification."""
