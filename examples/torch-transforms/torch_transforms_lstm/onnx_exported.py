"""``onnx-export``: nn.LSTM exported by ``torch.onnx.export`` and run by ONNX Runtime.

``torch.onnx.export(lstm, args)`` (the default exporter of torch 2.13: torch.export, then
onnxscript's torch_lib translation of ``aten.lstm`` into ONNX ``LSTM`` nodes, opset 20)
gives an ``ONNXProgram``; its ``model_proto`` is loaded into an ONNX Runtime
``InferenceSession`` (CPUExecutionProvider, one thread). The graph is specialised like
torch.export's (static shapes, ``hx`` given or not, training mode: in training it holds
``Dropout`` nodes) and the weights are baked in as initializers, so the adapter exports
once per (weights version, dtype, training mode, input signature), caches the session
(``_base.PreparedCache``) and counts exports in ``EXPORTS``.

The call is passed through: input (and h0, c0) go in as numpy arrays in the program's
input order, and ORT's three outputs come back as tensors, as they are. nn.LSTM's input
checks run in Python while exporting, so malformed input raises nn.LSTM's exceptions.

Declared gaps (``NotImplementedError``; for ``proj_size`` in the constructor, the others
in ``forward``):

* ``proj_size``: the exporter drops the projection. onnxscript torch_lib's ``aten_lstm``
  translation ignores ``weight_hr`` and reads the hidden size from ``h0``'s last dimension
  (proj_size), so it writes an LSTM without projection whose ``initial_c`` has the wrong
  shape, which ONNX Runtime rejects at run time ("Input initial_c must have shape ...").
  The translation was added for https://github.com/microsoft/onnxscript/issues/2546; no
  upstream issue about projections was found. tests/test_findings.py shows it. It is a
  gap rather than a known failure because no projection case can run at all, and
  letting the suite shrink each one (an export of seconds per attempt) ran past
  pytest-timeout's 300 s in the first invariant.

* ``packed``: the export traces through torch.export, which cannot take a
  PackedSequence (see ``exported``).
* ``autograd``: an ONNX Runtime inference session has no backward.
* ``float64``: the exporter writes a double graph, but ONNX Runtime's CPU LSTM kernel
  refuses it at run time ("LSTM operator does not support double yet").
* ``float16``: a limitation of this adapter, which exports float32 only. A float16
  nn.LSTM does export, and ONNX Runtime runs it (one try: 2.4e-4 from eager, 5 steps,
  hidden size 4); bringing it through the suite is left to do.
* ``seeded_dropout``: ONNX Runtime's Dropout draws its masks from its own generator, so
  ``torch.manual_seed`` does not repeat them.

Dropout: a training-mode export holds ``Dropout`` nodes with ``training_mode`` true, but
ONNX Runtime's graph optimizer removes every Dropout node of an inference session
(``EliminateDropout``, https://github.com/microsoft/onnxruntime/issues/9333), so the
session would compute in eval mode. The session is built with that one optimizer
disabled (tests/test_findings.py shows both).

Declared known failures, each reproduced in tests/test_findings.py (or, for this
adapter's own limitation, tests/test_prepare_counts.py):

* ``bad-input-raises``: ``torch.onnx.export`` wraps nn.LSTM's ValueError for 1-D or 4-D
  input in its ``TorchExportError`` (a RuntimeError), the ValueError as its cause;
* ``empty-batch``: ONNX Runtime's LSTM kernel aborts the process (SIGABRT, "terminate
  called without an active exception") on a batch of 0 sequences;
* ``parameter-identity``: as ``torch-export``'s, this adapter's cache.

Refused case, not a capability: nn.LSTM takes ``dropout=1.0``, ONNX's Dropout a ratio in
[0, 1), and ONNX Runtime raises at run time for a training call (tests/test_findings.py).
``forward`` raises ``NotImplementedError`` for a training call with ``dropout=1.0`` between
layers, so those cases are not applicable wherever they are drawn. (Declared as known
failures of the checks that drew it at one seed, they came and went with the seed.)
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch
from torch.nn.utils.rnn import PackedSequence

from ._base import PrepareCounter, PreparedCache, TransformedLSTM, input_signature
from .exported import PACKED_UNSUPPORTED, call_args

#: torch.onnx.export calls made by this adapter, across all instances.
EXPORTS = PrepareCounter()

_PROJ = (
    "torch.onnx.export drops the projection: onnxscript torch_lib's aten_lstm ignores "
    "weight_hr, and ONNX Runtime rejects the graph ('Input initial_c must have shape'); "
    "translation from https://github.com/microsoft/onnxscript/issues/2546, no upstream "
    "issue on projections found"
)


def export_to_session(lstm: torch.nn.LSTM, args: tuple) -> ort.InferenceSession:
    """The expensive step: ``torch.onnx.export`` and an ORT session on the result."""
    program = torch.onnx.export(lstm, args, dynamo=True, verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"],
        # or a training-mode graph's Dropout nodes are removed (onnxruntime#9333)
        disabled_optimizers=["EliminateDropout"],
    )


_EXPORT_ERROR = (
    "torch.onnx.export wraps nn.LSTM's ValueError for 1-D or 4-D input in its "
    "TorchExportError (a RuntimeError; the ValueError is its __cause__); no upstream issue "
    "found"
)
_EMPTY_BATCH = (
    "ONNX Runtime's LSTM aborts the process (SIGABRT, 'terminate called without an active "
    "exception') on a batch of 0 sequences; no upstream issue found"
)
_DROP_EVERYTHING = (
    "nn.LSTM takes dropout=1.0; ONNX's Dropout ratio is in [0, 1), and ONNX Runtime raises "
    "'ratio must be in the range [0, 1)' for a training call (the ONNX operator's "
    "definition: https://onnx.ai/onnx/operators/onnx__Dropout.html)"
)
_STALE_PARAMETER = (
    "a limitation of this adapter, not of the exporter: it exports again when a weight is "
    "updated in place, but a weight replaced by a new nn.Parameter, reparametrized or "
    "pruned after the first call is not the one its eager twin exports"
)


class OnnxExportedLSTM(TransformedLSTM):
    """nn.LSTM's forward as an ONNX graph from ``torch.onnx.export``, run by ONNX Runtime."""

    lstm_conformance_unsupported = frozenset(
        {"proj_size", "packed", "autograd", "float64", "float16", "seeded_dropout"})
    lstm_conformance_known_failures = {
        "bad-input-raises": _EXPORT_ERROR,
        "empty-batch": _EMPTY_BATCH,
        "parameter-identity": _STALE_PARAMETER,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.proj_size > 0:
            raise NotImplementedError(_PROJ)
        self.keep_out_of_tree("_twin", self.make_eager_twin())
        self.keep_out_of_tree("_sessions", PreparedCache(EXPORTS))

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            raise NotImplementedError(PACKED_UNSUPPORTED.format("torch.onnx.export"))
        if self.weight_ih_l0.dtype != torch.float32:
            raise NotImplementedError(
                f"ONNX Runtime's CPU LSTM kernel supports float32 only, not "
                f"{self.weight_ih_l0.dtype}"
            )
        if self.training and self.dropout >= 1.0 and self.num_layers > 1:
            raise NotImplementedError(_DROP_EVERYTHING)
        args = call_args(input, hx)
        key = (self.weights_version(), self.training, input_signature(input, hx))
        session = self._sessions.get(key, lambda: self._export(args))
        flat = [input] if hx is None else [input, *hx]
        feeds = {
            spec.name: tensor.detach().cpu().numpy()
            for spec, tensor in zip(session.get_inputs(), flat, strict=True)
        }
        output, h_n, c_n = (torch.from_numpy(np.asarray(a)) for a in session.run(None, feeds))
        return output, (h_n, c_n)

    def _export(self, args):
        self._twin.train(self.training)
        return export_to_session(self._twin, args)
