"""Defects of dropout between layers."""

from __future__ import annotations

import torch.nn.functional as F

from .base import ReferenceLSTM
from .declare import DROPOUT_TRAIN, Caught


class DropoutAfterLastLayer(ReferenceLSTM):
    """Dropout is applied to every layer's output, including the last.

    Bug: nn.LSTM drops out all but the last layer's output. In training h_n[top] no
    longer equals the (dropped-out) output's last step. Caught by dropout-train-structure
    only.
    """

    catches = {
        "dropout-train-structure": DROPOUT_TRAIN,
    }
    hint = "dropout-placement"

    def between_layers(self, x, layer):
        p = self.config.dropout
        return F.dropout(x, p, self.training) if p > 0 else x


class DropoutInEval(ReferenceLSTM):
    """Dropout between layers is applied in eval mode too.

    Bug: the training flag is not passed to dropout (real: pytorch/pytorch#180744, the
    MPS graph cache ignored ``train``; #173640). Caught by dropout-eval; also by the
    invariants that compare two eval runs with dropout > 0 (there the failure is random,
    and hypothesis may report it as flaky instead).
    """

    catches = {
        "dropout-eval": Caught(check="dropout-eval"),
    }
    hint = "dropout-eval"

    def between_layers(self, x, layer):
        c = self.config
        if layer < c.num_layers - 1 and c.dropout > 0:
            return F.dropout(x, c.dropout, training=True)
        return x
