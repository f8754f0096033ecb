import sys
from pathlib import Path

# examples/shared/torch_reference.py: the nn.LSTM reference the backend examples use
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

import pytest


@pytest.fixture(scope="session")
def backend():
    from mindspore_lstm import backend

    return backend
