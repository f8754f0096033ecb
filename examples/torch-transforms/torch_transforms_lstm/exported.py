"""``torch-export``: nn.LSTM through ``torch.export.export``, one program per signature.

``torch.export.export(lstm, args)`` traces nn.LSTM's forward (non-strict, the default)
into an ``ExportedProgram`` specialised to the example inputs: their shapes (static;
the program's ``module()`` asserts them), dtype, whether ``hx`` is given, and the
training mode at export time (the exported module refuses ``train()``/``eval()``). So
the adapter exports once per (weights version, dtype, training mode, input signature)
and caches the program's module in a small per-module LRU (``_base.PreparedCache``);
``EXPORTS`` counts the exports.

What it supports: every configuration (layers, directions, projections, no bias,
batch_first, dropout in training), float32 and float64, 3-D and 2-D (unbatched) input,
with or without ``hx``, and autograd: the exported program is the training IR, and its
module uses the same Parameter objects as the traced LSTM, which are this module's
(see ``_base``), so gradients reach ``named_parameters()``. nn.LSTM's input checks run
in Python while tracing, so malformed input raises nn.LSTM's own exceptions at export.

Known failure: ``bad-input-raises``. For seq_len 0, nn.LSTM's C++ kernel raises
``RuntimeError`` ("Expected sequence length to be larger than 0";
https://github.com/pytorch/pytorch/issues/50192 asks for seq_len 0 to work at all); export
traces ``aten.lstm`` with fake tensors through a Python decomposition whose
``torch.cat`` of zero steps raises ``ValueError`` ("cat expects at least one tensor")
first. No upstream issue about the exception type was found.
tests/test_findings.py::test_export_seq_len_zero_raises_value_error_not_runtime_error.

Declared gap: ``packed``. Export cannot trace nn.LSTM on a PackedSequence: the packed
``aten.lstm.data`` decomposition guards on data-dependent ``batch_sizes``
(``GuardOnDataDependentSymNode``; https://github.com/pytorch/pytorch/issues/171978,
https://github.com/pytorch/pytorch/issues/112044). ``forward`` raises
``NotImplementedError`` for it.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

from ._base import PrepareCounter, PreparedCache, TransformedLSTM, input_signature

#: torch.export.export calls made by this adapter, across all instances.
EXPORTS = PrepareCounter()

PACKED_UNSUPPORTED = (
    "{} cannot export nn.LSTM on a PackedSequence: aten.lstm.data guards on data-dependent "
    "batch_sizes (https://github.com/pytorch/pytorch/issues/171978)"
)


def call_args(input, hx) -> tuple:
    return (input,) if hx is None else (input, tuple(hx))


class ExportedLSTM(TransformedLSTM):
    """nn.LSTM's forward run as the module of a ``torch.export`` ExportedProgram."""

    lstm_conformance_unsupported = frozenset({"packed"})
    lstm_conformance_known_failures = {
        "bad-input-raises": (
            "seq_len 0 raises ValueError ('cat expects at least one tensor', from the "
            "aten.lstm decomposition traced by export) where nn.LSTM raises RuntimeError; "
            "no upstream issue found (context: https://github.com/pytorch/pytorch/issues/50192)"
        ),
        "parameter-identity": (
            "a limitation of this adapter, not of torch.export: it re-exports when a weight "
            "is updated in place (its cache key is the flat weights' versions and "
            "addresses), but a weight replaced by a new nn.Parameter, reparametrized or "
            "pruned after the first call keeps the exported program of the old one"
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_out_of_tree("_twin", self.make_eager_twin())
        self.keep_out_of_tree("_programs", PreparedCache(EXPORTS))

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            raise NotImplementedError(PACKED_UNSUPPORTED.format("torch.export"))
        args = call_args(input, hx)
        key = (self.weights_version(), self.training, input_signature(input, hx))
        program = self._programs.get(key, lambda: self._export(args))
        return program(*args)

    def _export(self, args):
        self._twin.train(self.training)
        return torch.export.export(self._twin, args).module()
