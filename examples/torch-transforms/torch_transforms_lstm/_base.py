"""What the four adapters share: nn.LSTM's surface, an eager twin to transform, a cache.

Every adapter *is* an ``nn.LSTM`` subclass. That gives it, unchanged, what the drop-in
contract asks for besides the forward pass: nn.LSTM's constructor keywords, its
parameters under its own names (``weight_ih_l0``, ``weight_hr_l1_reverse``, ...), its
``load_state_dict``, ``named_parameters``, ``train()``/``eval()`` and ``.to(dtype)``.
Only ``forward`` is replaced: it hands the call to the transformed LSTM.

What gets transformed is an *eager twin*: a plain ``nn.LSTM`` with the same configuration
whose parameters are this module's Parameter objects (not copies). The twin is kept out
of the module tree (so ``state_dict`` and ``named_parameters`` keep nn.LSTM's names), and
because ``load_state_dict``, optimizers and ``.to(dtype)`` all update parameters in place
(``copy_``, ``param.data = ...``), the twin always sees the current weights. Gradients of
a transform that keeps autograd (compile, TorchScript, export) land on this module's
parameters.

Transforms that bake the weights into an artefact (torch.export's program, ONNX) key
what they prepared on ``weights_version()``: every flat weight's ``_version`` counter
(bumped by every in-place update), data pointer (changed by ``.to``) and dtype. With the
training mode and the input signature, that is ``PreparedCache``'s key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


class TransformedLSTM(nn.LSTM):
    """``nn.LSTM`` whose forward pass is a transform of itself (subclasses define it)."""

    lstm_conformance_framework = f"torch {torch.__version__}"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias=bias,
                         batch_first=batch_first, dropout=dropout, bidirectional=bidirectional,
                         proj_size=proj_size, device=device, dtype=dtype)

    def lstm_kwargs(self) -> dict:
        """nn.LSTM's constructor keywords for this module's configuration."""
        return dict(input_size=self.input_size, hidden_size=self.hidden_size,
                    num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                    dropout=self.dropout, bidirectional=self.bidirectional,
                    proj_size=self.proj_size)

    def make_eager_twin(self) -> nn.LSTM:
        """A plain ``nn.LSTM`` sharing this module's Parameter objects."""
        twin = nn.LSTM(**self.lstm_kwargs(), device="meta")
        for name in self._flat_weights_names:
            # RNNBase.__setattr__ keeps the twin's _flat_weights in step.
            setattr(twin, name, getattr(self, name))
        # ... but not its weak references to the (discarded) meta weights; refresh them as
        # nn.LSTM's own constructor does, or the first forward finds the weights "changed".
        twin._init_flat_weights()
        return twin.train(self.training)

    def keep_out_of_tree(self, name: str, value) -> None:
        """Hold ``value`` (a twin, a compiled or scripted module) without registering it as
        a submodule, so that state_dict, parameters and train()/eval() stay nn.LSTM's."""
        self.__dict__[name] = value

    def weights_version(self) -> tuple:
        """Changes whenever any weight is updated in place, replaced or converted."""
        return tuple((w._version, w.data_ptr(), w.dtype) for w in self._flat_weights)

    def forward(self, input, hx=None):  # noqa: D102 - subclasses define the transform
        raise NotImplementedError


def tensor_signature(t: torch.Tensor) -> tuple:
    return (tuple(t.shape), t.dtype, t.device.type)


def input_signature(input, hx) -> tuple:
    """What an exported artefact is specialised to: the shapes and dtypes it was given."""
    if isinstance(input, PackedSequence):
        raise TypeError("a PackedSequence has no static signature")
    return (tensor_signature(input),
            None if hx is None else tuple(tensor_signature(s) for s in hx))


class PrepareCounter:
    """How many times a transform ran its expensive preparation (export, session build)."""

    def __init__(self) -> None:
        self.count = 0

    def __repr__(self) -> str:
        return f"PrepareCounter(count={self.count})"


class PreparedCache:
    """A small per-module LRU of prepared artefacts, counting every preparation."""

    def __init__(self, counter: PrepareCounter, max_entries: int = 16) -> None:
        self.counter = counter
        self.max_entries = max_entries
        self._entries: OrderedDict = OrderedDict()

    def get(self, key: Hashable, prepare: Callable[[], object]):
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = prepare()  # an exception here caches nothing and counts nothing
        self.counter.count += 1
        self._entries[key] = value
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)
