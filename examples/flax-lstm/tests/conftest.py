import sys
from pathlib import Path

# examples/shared/torch_reference.py: the nn.LSTM reference both backend examples use
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

import pytest


@pytest.fixture(scope="session")
def backend():
    """The registered backend object (importing flax_lstm enables JAX's float64)."""
    from flax_lstm import backend

    return backend
