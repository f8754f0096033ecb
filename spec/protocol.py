"""The protocol for implementations that are not torch modules, and its drop-in adapter.

A drop-in implementation is a class that takes ``nn.LSTM``'s constructor keywords and
behaves like ``nn.LSTM`` (``load_state_dict``, ``train()``/``eval()``, ``module(input,
hx=None) -> (output, (h_n, c_n))`` for 3-D, 2-D and ``PackedSequence`` input).

An implementation written in numpy, JAX, ONNX Runtime or anything else may instead
provide a *backend*: any object with one method::

    backend.prepare(config: LSTMConfig, weights: dict[str, np.ndarray],
                    dtype: np.dtype, training: bool) -> run

    run(x, hx, lengths) -> (output, h_n, c_n)
        x        np.ndarray (L, N, input_size), seq-first, of ``dtype``
        hx       None, or (h0 (D*num_layers, N, H_out), c0 (D*num_layers, N, H))
        lengths  None (every sequence is L long), or an int64 array (N,) of true lengths,
                 in the caller's batch order, each in 1..L
        output   (L, N, D*H_out): zero where t >= lengths[b]
        h_n, c_n (D*num_layers, N, H_out) and (D*num_layers, N, H), taken at each
                 sequence's true last step (the backward direction's at t = 0)

What a backend may assume about the arrays: their shapes and dtype, and a batch of at
least one (the adapter answers an empty batch itself, as nn.LSTM does). Not their memory
layout: they are views of what the caller passed, so they may be transposed, sliced or
strided, and (h0, c0) may be one column expanded over the batch with stride 0. A backend
whose framework needs contiguous memory calls ``np.ascontiguousarray``; one that reads a
raw buffer as if it were dense computes wrong numbers, which ``strided-views`` shows.

``weights`` uses ``nn.LSTM``'s state_dict names and shapes. ``prepare`` may raise
``NotImplementedError`` for a configuration it does not support (those cases are then
not applicable), and the backend may declare its gaps with
``lstm_conformance_unsupported`` (see ``spec.capabilities``). Backends get no autograd.

``backend_module(backend)`` turns a backend into a drop-in class. The adapter does the
layout work (batch_first, unbatched input, PackedSequence) and nn.LSTM's input checks,
so a backend only ever sees seq-first arrays.

Preparing can be expensive (building a graph, an export, a compiled session), so the
adapter keeps what ``prepare`` returned and reuses it while the weights (every
parameter's identity and in-place version counter), the dtype and the mode stay the same;
``load_state_dict``, an optimizer step, ``.to(dtype)`` or ``train()``/``eval()`` make it
prepare again. A backend that needs example inputs to prepare (an exporter) sets
``prepare_per_shape = True``: it is then called as ``prepare(config, weights, dtype,
training, signature)`` once per input signature too, where ``signature`` is
``(L, N, has_hx, has_lengths)``. A worked example::

    class MyBackend:
        lstm_conformance_unsupported = frozenset({"proj_size"})

        def prepare(self, config, weights, dtype, training):
            session = build_session(config, weights, dtype)   # slow: done once per weights
            def run(x, hx, lengths):
                return session.run(x, hx, lengths)            # (output, h_n, c_n)
            return run

    backend = MyBackend()   # the entry point names this object
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from lstm_conformance.spec.capabilities import UNSUPPORTED_ATTRIBUTE, declared_unsupported
from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.layout import canonical


class BackendModule(nn.Module):
    """A drop-in ``nn.LSTM`` whose forward pass is a protocol backend's ``run``."""

    backend: object = None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.config = LSTMConfig(
            input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size,
        )
        dtype = dtype or torch.get_default_dtype()
        for name, shape in self.config.param_shapes().items():
            self.register_parameter(
                name, nn.Parameter(torch.zeros(shape, dtype=dtype), requires_grad=False)
            )

    def forward(self, input, hx=None):
        parameter = next(self.parameters())
        dtype, device = parameter.dtype, parameter.device
        # The backend computes where its framework does, on CPU arrays; the module may
        # still live on a device (--lstm-device), and then takes and returns tensors there,
        # refusing others as nn.LSTM does.
        data = input.data if isinstance(input, PackedSequence) else input
        if data.device != device:
            raise RuntimeError("Input and parameter tensors are not at the same device, found "
                               f"input tensor at {data.device} and parameter tensor at {device}")
        for state in hx or ():
            if state.device != device:
                raise RuntimeError("Input and hidden tensors are not at the same device, found "
                                   f"input tensor at {data.device} and hidden tensor at "
                                   f"{state.device}")
        x, hx, lengths, restore = canonical(self.config, input, hx, dtype)
        if x.shape[1] == 0:  # an empty batch: nn.LSTM's empty results, no backend call
            c, L = self.config, x.shape[0]
            return restore(x.new_zeros(L, 0, c.num_directions * c.h_out),
                           x.new_zeros(c.state_rows, 0, c.h_out),
                           x.new_zeros(c.state_rows, 0, c.hidden_size))
        run = self._prepared(dtype, (x.shape[0], x.shape[1], hx is not None,
                                     lengths is not None))
        np_hx = None if hx is None else tuple(s.detach().cpu().numpy() for s in hx)
        np_lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
        out, h_n, c_n = run(x.detach().cpu().numpy(), np_hx, np_lengths)
        # np.array copies: a backend may return read-only arrays (a session's own buffers),
        # which torch.as_tensor would warn about and could not write to.
        as_tensor = lambda a: torch.from_numpy(np.array(a)).to(device, dtype)  # noqa: E731
        return restore(as_tensor(out), as_tensor(h_n), as_tensor(c_n))

    def _prepared(self, dtype: torch.dtype, signature: tuple):
        """The backend's ``run`` for the current weights, dtype and mode (and input
        signature, for a backend that prepares per shape), prepared once and reused.

        The weights are told apart by where their data lives and by its in-place version
        counter: ``load_state_dict`` and optimizer steps bump the counter, ``.to()`` moves
        the data. The prepared weights' tensors are kept, so that their memory cannot be
        handed to new weights at the same address while they are cached (a round trip
        through ``.to(float32)`` would otherwise look like the original weights)."""
        per_shape = bool(getattr(self.backend, "prepare_per_shape", False))
        # Read as attributes, not from named_parameters(): a parametrized or pruned weight
        # is computed on access, and a reassigned one is a new tensor.
        params = [(name, getattr(self, name)) for name in self.config.param_shapes()]
        state = (tuple((name, p.data_ptr(), p._version) for name, p in params), dtype,
                 self.training)
        if self.__dict__.get("_prepared_state") != state:  # old weights are never used again
            self.__dict__.update(_prepared_state=state, _prepared_runs={},
                                 _prepared_weights=[p.detach() for _, p in params])
        runs = self.__dict__["_prepared_runs"]
        shape = signature if per_shape else None
        if shape not in runs:
            weights = {k: v.detach().cpu().numpy() for k, v in params}
            args = (self.config, weights, np.dtype(str(dtype)[6:]), self.training)
            runs[shape] = self.backend.prepare(*args, signature) if per_shape \
                else self.backend.prepare(*args)
        return runs[shape]


#: What a backend may declare about itself, passed on to its drop-in class.
DECLARATIONS = ("lstm_conformance_tolerance", "lstm_conformance_known_failures",
                "lstm_conformance_framework")


#: What no backend can do through this protocol: numpy arrays carry no autograd, and numpy
#: has no bfloat16.
BACKEND_GAPS = frozenset({"autograd", "bfloat16"})


def backend_module(backend: object, name: str | None = None) -> type[BackendModule]:
    """A drop-in class for ``backend``; it inherits the backend's declarations (gaps, plus
    ``BACKEND_GAPS``; a tolerance; known failures)."""
    unsupported = declared_unsupported(backend) | BACKEND_GAPS
    cls_name = name or f"{type(backend).__name__}Module"
    declared = {a: getattr(backend, a) for a in DECLARATIONS if hasattr(backend, a)}
    return type(cls_name, (BackendModule,),
                {"backend": backend, UNSUPPORTED_ATTRIBUTE: unsupported, **declared})


def is_backend(target: object) -> bool:
    """True for protocol backends (an object with ``prepare``), False for drop-in classes."""
    return not isinstance(target, type) and callable(getattr(target, "prepare", None))
