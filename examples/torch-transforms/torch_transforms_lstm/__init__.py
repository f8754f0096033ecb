"""PyTorch's own transforms of ``nn.LSTM`` as lstm-conformance drop-in implementations.

Each adapter is an ``nn.LSTM`` subclass (nn.LSTM's constructor, parameters, state_dict,
train/eval and ``.to``) whose ``forward`` runs a transformed copy of itself:

* ``CompiledLSTM`` (``torch-compile``): ``torch.compile``, inductor, RNNs allowed;
* ``ScriptedLSTM`` (``torchscript``): ``torch.jit.script`` in a host module;
* ``ExportedLSTM`` (``torch-export``): ``torch.export.export``, one program per signature;
* ``OnnxExportedLSTM`` (``onnx-export``): ``torch.onnx.export`` run by ONNX Runtime.

The adapters import lazily so that loading one entry point does not import the others'
dependencies (ONNX Runtime, inductor).
"""

from __future__ import annotations

import importlib

_CLASSES = {
    "CompiledLSTM": "compiled",
    "ScriptedLSTM": "scripted",
    "ExportedLSTM": "exported",
    "OnnxExportedLSTM": "onnx_exported",
}

__all__ = list(_CLASSES)


def __getattr__(name):
    if name in _CLASSES:
        return getattr(importlib.import_module(f".{_CLASSES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
