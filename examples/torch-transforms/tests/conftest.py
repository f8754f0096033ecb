"""Shared helpers: a reference nn.LSTM and an adapter loaded with its random weights."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

ADAPTERS = {
    "torch-compile": "torch_transforms_lstm.compiled:CompiledLSTM",
    "torchscript": "torch_transforms_lstm.scripted:ScriptedLSTM",
    "torch-export": "torch_transforms_lstm.exported:ExportedLSTM",
    "onnx-export": "torch_transforms_lstm.onnx_exported:OnnxExportedLSTM",
}


def adapter_class(name: str):
    module, cls = ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def reference_and_adapter(name: str, dtype=torch.float32, seed=0, **config):
    """An nn.LSTM with random weights and the adapter loaded from its state_dict."""
    torch.manual_seed(seed)
    reference = nn.LSTM(**config).to(dtype).eval()
    adapter = adapter_class(name)(**config).to(dtype)
    adapter.load_state_dict(reference.state_dict())
    return reference, adapter.eval()


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
