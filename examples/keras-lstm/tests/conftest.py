import sys
from pathlib import Path

# examples/shared/torch_reference.py: the nn.LSTM reference both backend examples use
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

import importlib

import pytest
from selected_backend import KERAS_BACKEND


@pytest.fixture(scope="session")
def backend():
    """The registered backend object for ``KERAS_BACKEND``; importing it selects Keras's
    backend, so every test that imports keras depends on this fixture."""
    return importlib.import_module(f"keras_lstm.{KERAS_BACKEND}_backend").backend
