"""Test configuration: one torch thread, as the suite runs and the figures were measured."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Figures in the tests were measured with one thread, as the suite runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
