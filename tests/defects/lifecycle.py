"""Defects that live across calls on one module: every fresh-module invariant misses them.

Each builds its module, loads weights and sets the mode before the first call, as every
invariant but the lifecycle machine does, so they all pass; they go wrong only when one
module is called, updated and called again.
"""

from __future__ import annotations

from .base import ReferenceLSTM
from .declare import LIFECYCLE


class WeightsCachedAtFirstCall(ReferenceLSTM):
    """The weights are copied at the first call and used from then on.

    Bug: prepacked or flattened weights made once (oneDNN prepack, a frozen TorchScript
    module, an inference session built at the first call) and never refreshed: a later
    ``load_state_dict`` or optimizer step is ignored. Caught by lifecycle only; missed by
    every fresh-module invariant, which loads weights before the first call.
    """

    catches = {"lifecycle": LIFECYCLE}
    hint = "lifecycle"

    def weights(self, layer, suffix):
        cache = self.__dict__.setdefault("_first_weights", {})
        key = (layer, suffix, self.weight_ih_l0.dtype)  # a new dtype does get new weights
        if key not in cache:
            cache[key] = {k: None if v is None else v.clone()
                          for k, v in super().weights(layer, suffix).items()}
        return cache[key]


class ModeReadOnce(ReferenceLSTM):
    """Train or eval is read at the first call and kept.

    Bug: a graph compiled or cached for the mode it was first run in (pytorch#173640: an
    MPS LSTM's cached graph keeps dropout after moving to eval). Caught by lifecycle only;
    missed by every fresh-module invariant, which sets the mode before the first call.
    """

    catches = {"lifecycle": LIFECYCLE}
    hint = "lifecycle"

    def between_layers(self, x, layer: int):
        first = self.__dict__.setdefault("_mode_at_first_call", self.training)
        training, self.training = self.training, first
        try:
            return super().between_layers(x, layer)
        finally:
            self.training = training


class CacheKeyedOnBatchSize(ReferenceLSTM):
    """Prepared weights are cached per batch size and never invalidated.

    Bug: descriptors or prepacked weights keyed on the batch size (pytorch#180744: eval
    outputs depend on the batch size after one optimizer step): a batch size seen before
    an update keeps the old weights. Caught by lifecycle only; missed by every
    fresh-module invariant (batch-independence calls one module with two batch sizes, but
    never after an update).
    """

    catches = {"lifecycle": LIFECYCLE}
    hint = "lifecycle"

    def forward(self, input, hx=None):
        data = input.data if hasattr(input, "batch_sizes") else input
        self.__dict__["_batch"] = int(input.batch_sizes[0]) if hasattr(input, "batch_sizes") \
            else (1 if data.dim() == 2 else data.shape[0 if self.config.batch_first else 1])
        return super().forward(input, hx)

    def weights(self, layer, suffix):
        cache = self.__dict__.setdefault("_weights_by_batch", {})
        key = (self.__dict__["_batch"], layer, suffix, self.weight_ih_l0.dtype)
        if key not in cache:
            cache[key] = {k: None if v is None else v.clone()
                          for k, v in super().weights(layer, suffix).items()}
        return cache[key]


class StateCarriedAfterBackward(ReferenceLSTM):
    """Once gradients exist, a call without hx starts from the previous call's (h_n, c_n).

    Bug: a "stateful" training mode that keeps the last state for truncated
    backpropagation, switched on by the presence of gradients. Caught by lifecycle only;
    missed by every fresh-module invariant (gradients uses torch.autograd.grad, which
    leaves .grad unset, and always passes hx).
    """

    catches = {"lifecycle": LIFECYCLE}
    hint = "lifecycle"

    def initial_state(self, x, hx):
        carried = self.__dict__.get("_last_state")
        has_grads = any(p.grad is not None for p in self.parameters())
        if hx is None and has_grads and carried is not None and carried[0].shape[1] == x.shape[1]:
            return carried
        return super().initial_state(x, hx)

    def assemble_states(self, h_rows, c_rows):
        h_n, c_n = super().assemble_states(h_rows, c_rows)
        self.__dict__["_last_state"] = (h_n.detach(), c_n.detach())
        return h_n, c_n
